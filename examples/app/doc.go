// Package app is the domain of the reference service that examples/chi,
// examples/echo, examples/gin and examples/stdlib share: configuration from
// the environment, the user and order stores (in memory or PostgreSQL), and
// the HTTP handlers and middleware wiring every variant mounts in its own
// router. [Routes] is the stdlib variant's router, a ServeMux, which the
// benchmarks of the whole chain (bench) measure too.
package app
