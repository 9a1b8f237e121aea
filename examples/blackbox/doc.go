// Package blackbox is the contract test suite of the reference service: it
// builds every variant (examples/chi, examples/echo, examples/gin and
// examples/stdlib), starts each as a separate process configured by its
// environment, and checks the HTTP contract over real connections, with
// in-memory stores, with Redis (single node and Cluster) and with
// PostgreSQL.
//
// The variants share one contract, so they share this suite: a variant that
// passes it can be swapped for another without a client noticing. Set
// BLACKBOX_VARIANTS (comma-separated names) to run a subset.
package blackbox
