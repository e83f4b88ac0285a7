package recorder

import (
	"bufio"
	"os"
	"sync"
)

// bufferedFile batches a container's small writes into few system calls; the track writer
// flushes it every second, so a killed process loses at most that much. WriteAt (a container
// finishing its header) writes through. The container's own goroutine and the flush may overlap.
type bufferedFile struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

func createBuffered(path string) (*bufferedFile, error) {
	f, err := os.Create(path) // #nosec G304 -- the recorder names its files under its own directory
	if err != nil {
		return nil, err
	}
	return &bufferedFile{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (b *bufferedFile) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Write(p)
}

func (b *bufferedFile) WriteAt(p []byte, off int64) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.w.Flush(); err != nil {
		return 0, err
	}
	return b.f.WriteAt(p, off)
}

func (b *bufferedFile) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.w.Flush()
}

func (b *bufferedFile) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.w.Flush()
	if cerr := b.f.Close(); err == nil {
		err = cerr
	}
	return err
}
