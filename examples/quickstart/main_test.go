package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/backstop-go/backstop/problem"
)

func TestQuickstart(t *testing.T) {
	srv := httptest.NewServer(newHandler())
	defer srv.Close()
	tests := []struct {
		path   string
		status int
		typ    string
	}{
		{"/orders/1", 200, ""},
		{"/orders/404", 404, ErrOrderNotFound.URI},
		{"/orders/abc", 400, "about:blank"},
		{"/panic", 500, "about:blank"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.typ == "" {
				return
			}
			p, err := problem.Parse(resp)
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != tt.typ || p.Status != tt.status {
				t.Errorf("problem %+v", p)
			}
		})
	}
}
