package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// precheck walks a bbolt file's page tree with bounds-checked reads before
// bbolt maps it. bbolt trusts the file: a truncated file or a page id
// damaged by a few flipped bits makes it read past the mapping or fail an
// assertion in a goroutine of its own, and either ends the process with a
// runtime dump no caller can recover. precheck turns that into an error
// naming what is wrong. It reads every page reachable from the newest
// valid meta page once (what bbolt's own start-up scan reads anyway).
//
// The layout read here is bbolt v1's (file format version 2), in the
// machine's byte order, which on every platform sselog ships for is
// little-endian.
func precheck(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	c := checker{f: f, size: fi.Size()}
	// Mapped read-only when the platform allows: the walk then reads
	// pages in place, as bbolt does, at a fraction of the cost of a read
	// call per page. Every access is bounds-checked against the file's
	// size first; the caller holds the file's lock, so it does not shrink.
	if data, unmap := mapFile(f, fi.Size()); data != nil {
		defer unmap()
		c.data = data
	}
	return c.run()
}

var le = binary.LittleEndian

// bbolt's page layout.
const (
	pageHeader = 16 // id u64, flags u16, count u16, overflow u32
	elemSize   = 16 // branch: pos, ksize u32, pgid u64; leaf: flags, pos, ksize, vsize u32

	flagBranch   = 0x01
	flagLeaf     = 0x02
	flagMeta     = 0x04
	flagFreelist = 0x10
	leafBucket   = 0x01

	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	noFreelist     = ^uint64(0)
	maxTreeDepth   = 64
	minPageSize    = 512
	maxPageSize    = 1 << 20
	metaSumOffset  = 56 // checksum's offset in the meta struct
	metaStructSize = 64
)

type checker struct {
	f        *os.File
	data     []byte // the file mapped, or nil: read with f
	size     int64
	pageSize int64
	hwm      uint64 // pages the file claims to hold
	seen     []bool // pages reached, by id
}

// read returns n bytes at off, in place when the file is mapped.
func (c *checker) read(off int64, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > c.size {
		return nil, io.ErrUnexpectedEOF
	}
	if c.data != nil {
		return c.data[off : off+n : off+n], nil
	}
	b := make([]byte, n)
	if _, err := c.f.ReadAt(b, off); err != nil {
		return nil, err
	}
	return b, nil
}

type meta struct {
	pageSize       uint32
	root, freelist uint64
	hwm, txid      uint64
	valid          bool
}

func (c *checker) damaged(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrDamaged, fmt.Sprintf(format, a...))
}

func (c *checker) run() error {
	// Meta page 0 says the page size; page 1 sits one page further.
	m0 := c.readMeta(0)
	ps := int64(4096)
	if m0.valid {
		ps = int64(m0.pageSize)
	}
	m1 := c.readMeta(ps)
	m := m0
	if m1.valid && (!m0.valid || m1.txid > m0.txid) {
		m = m1
	}
	if !m.valid {
		return c.damaged("neither meta page is valid (not a bbolt data file, or its header is damaged)")
	}
	c.pageSize, c.hwm = int64(m.pageSize), m.hwm
	if need := int64(m.hwm) * c.pageSize; m.hwm > uint64(c.size) || c.size < need {
		return c.damaged("the file is %d bytes but its header says it holds %d pages of %d bytes (%d bytes): it was cut short", c.size, m.hwm, c.pageSize, need)
	}
	c.seen = make([]bool, c.hwm)
	if m.freelist != noFreelist {
		if err := c.checkFreelist(m.freelist); err != nil {
			return err
		}
	}
	_, err := c.walk(m.root, nil, nil, 0)
	return err
}

// readMeta reads the meta page at off; valid is false when its marker,
// version, page size or checksum is wrong.
func (c *checker) readMeta(off int64) meta {
	b, err := c.read(off, pageHeader+metaStructSize)
	if err != nil {
		return meta{}
	}
	if le.Uint16(b[8:])&flagMeta == 0 {
		return meta{}
	}
	mb := b[pageHeader:]
	h := fnv.New64a()
	h.Write(mb[:metaSumOffset])
	m := meta{
		pageSize: le.Uint32(mb[8:]),
		root:     le.Uint64(mb[16:]),
		freelist: le.Uint64(mb[32:]),
		hwm:      le.Uint64(mb[40:]),
		txid:     le.Uint64(mb[48:]),
	}
	m.valid = le.Uint32(mb[0:]) == boltMagic && le.Uint32(mb[4:]) == boltVersion &&
		le.Uint64(mb[metaSumOffset:]) == h.Sum64() &&
		m.pageSize >= minPageSize && m.pageSize <= maxPageSize && m.pageSize&(m.pageSize-1) == 0
	return m
}

// page reads page id with its overflow pages, checking that it lies inside
// the file and identifies as itself.
func (c *checker) page(id uint64) ([]byte, error) {
	if id < 2 || id >= c.hwm {
		return nil, c.damaged("page id %d is outside the file's %d pages", id, c.hwm)
	}
	hdr, err := c.read(int64(id)*c.pageSize, pageHeader)
	if err != nil {
		return nil, c.damaged("page %d: %v", id, err)
	}
	if got := le.Uint64(hdr); got != id {
		return nil, c.damaged("page %d identifies as page %d", id, got)
	}
	overflow := uint64(le.Uint32(hdr[12:]))
	if overflow >= c.hwm-id {
		return nil, c.damaged("page %d runs %d pages past the file's end", id, overflow)
	}
	b, err := c.read(int64(id)*c.pageSize, int64(overflow+1)*c.pageSize)
	if err != nil {
		return nil, c.damaged("page %d: %v", id, err)
	}
	for i := id; i <= id+overflow; i++ {
		if c.seen[i] {
			return nil, c.damaged("page %d is referenced twice", i)
		}
		c.seen[i] = true
	}
	return b, nil
}

func (c *checker) checkFreelist(id uint64) error {
	b, err := c.page(id)
	if err != nil {
		return err
	}
	if le.Uint16(b[8:]) != flagFreelist {
		return c.damaged("page %d should be the freelist", id)
	}
	return nil
}

// walk checks the tree rooted at page id, whose keys must lie in
// [lo, hi) (nil: unbounded), and returns its largest key. Keys are
// checked as bbolt's own start-up scan checks them: a violation there
// ends the process.
func (c *checker) walk(id uint64, lo, hi []byte, depth int) ([]byte, error) {
	if depth > maxTreeDepth {
		return nil, c.damaged("page %d: tree deeper than %d", id, maxTreeDepth)
	}
	b, err := c.page(id)
	if err != nil {
		return nil, err
	}
	return c.node(id, b, lo, hi, depth)
}

// node checks one branch or leaf page (b, which may be an inline bucket's
// page) and what it references.
func (c *checker) node(id uint64, b, lo, hi []byte, depth int) ([]byte, error) {
	flags, count := le.Uint16(b[8:]), int(le.Uint16(b[10:]))
	if pageHeader+count*elemSize > len(b) {
		return nil, c.damaged("page %d: %d elements do not fit", id, count)
	}
	var last []byte
	prev := lo
	order := func(i int, key []byte) error {
		if (i == 0 && prev != nil && bytes.Compare(prev, key) > 0) || (i > 0 && bytes.Compare(prev, key) >= 0) ||
			(hi != nil && bytes.Compare(key, hi) >= 0) {
			return c.damaged("page %d: keys out of order", id)
		}
		return nil
	}
	switch {
	case flags == flagBranch: // bbolt asserts exactly one type flag
		keys := make([][]byte, count)
		for i := range count {
			at := pageHeader + i*elemSize
			e := b[at:]
			pos, ksize := le.Uint32(e), le.Uint32(e[4:])
			if err := c.span(id, b, at, pos, ksize, 0); err != nil {
				return nil, err
			}
			keys[i] = b[at+int(pos):][:ksize]
		}
		for i := range count {
			if err := order(i, keys[i]); err != nil {
				return nil, err
			}
			max := hi
			if i < count-1 {
				max = keys[i+1]
			}
			var err error
			if last, err = c.walk(le.Uint64(b[pageHeader+i*elemSize+8:]), keys[i], max, depth+1); err != nil {
				return nil, err
			}
			prev = last
		}
	case flags == flagLeaf:
		for i := range count {
			at := pageHeader + i*elemSize
			e := b[at:]
			pos, ksize, vsize := le.Uint32(e[4:]), le.Uint32(e[8:]), le.Uint32(e[12:])
			if err := c.span(id, b, at, pos, ksize, vsize); err != nil {
				return nil, err
			}
			key := b[at+int(pos):][:ksize]
			if err := order(i, key); err != nil {
				return nil, err
			}
			prev, last = key, key
			if le.Uint32(e)&leafBucket == 0 {
				continue
			}
			v := b[at+int(pos)+int(ksize):][:vsize]
			if len(v) < 16 {
				return nil, c.damaged("page %d: bucket header cut short", id)
			}
			if root := le.Uint64(v); root != 0 {
				if _, err := c.walk(root, nil, nil, depth+1); err != nil {
					return nil, err
				}
			} else {
				// An inline bucket always holds a page, empty or not:
				// bbolt would read its header past the value's end.
				inline := v[16:]
				if len(inline) < pageHeader {
					return nil, c.damaged("page %d: inline bucket cut short", id)
				}
				if _, err := c.node(id, inline, nil, nil, depth+1); err != nil {
					return nil, err
				}
			}
		}
	default:
		return nil, c.damaged("page %d is neither a branch nor a leaf (flags %#x)", id, flags)
	}
	return last, nil
}

// span checks that an element's key and value, pos bytes after the
// element at offset at, lie inside the page.
func (c *checker) span(id uint64, b []byte, at int, pos, ksize, vsize uint32) error {
	if end := uint64(at) + uint64(pos) + uint64(ksize) + uint64(vsize); end > uint64(len(b)) {
		return c.damaged("page %d: an element runs past the page", id)
	}
	return nil
}
