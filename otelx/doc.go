// Package otelx sets up OpenTelemetry.
package otelx
