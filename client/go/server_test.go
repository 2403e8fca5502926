package gengate_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// target is the address of the gengate every test in this package calls.
var target string

// TestMain runs the real gengate (GENGATE_BINARY) on its built-in fake upstream for the
// package's tests, and stops it with SIGTERM afterwards.
func TestMain(m *testing.M) {
	binary := os.Getenv("GENGATE_BINARY")
	if binary == "" {
		fmt.Fprintln(os.Stderr, "GENGATE_BINARY must name the gengate binary to test against")
		os.Exit(2)
	}
	server, listen, err := startGengate(binary)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	target = listen
	code := m.Run()
	if err := stopGengate(server); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// startGengate starts gengate on free ports and returns once its "serving" line names the
// gRPC address.
func startGengate(binary string) (*exec.Cmd, string, error) {
	server := exec.Command(binary, "--upstream_url=fake", "--listen=127.0.0.1:0",
		"--admin_listen=127.0.0.1:0")
	server.Stderr = os.Stderr
	stdout, err := server.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := server.Start(); err != nil {
		return nil, "", err
	}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		var line struct {
			Msg    string `json:"msg"`
			Listen string `json:"listen"`
		}
		if json.Unmarshal(lines.Bytes(), &line) == nil && line.Msg == "serving" {
			// Keep draining stdout so gengate never blocks on a full pipe.
			go io.Copy(io.Discard, stdout)
			return server, line.Listen, nil
		}
	}
	server.Process.Kill()
	server.Wait()
	return nil, "", fmt.Errorf("gengate exited before its serving line: %v", lines.Err())
}

func stopGengate(server *exec.Cmd) error {
	if err := server.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- server.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("gengate did not exit cleanly on SIGTERM: %w", err)
		}
		return nil
	case <-time.After(30 * time.Second):
		server.Process.Kill()
		return fmt.Errorf("gengate still running 30s after SIGTERM")
	}
}
