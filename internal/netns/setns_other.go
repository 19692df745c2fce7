//go:build !linux

package netns

// inNamespace fails: network namespaces are Linux's.
func (h *Host) inNamespace(func() error) error { return errNotLinux }
