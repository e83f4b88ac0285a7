//go:build !linux

package udpbatch

// SetBuffers leaves buffer sizes to the system where the forced variants do not exist.
func SetBuffers(fd, size int) {}
