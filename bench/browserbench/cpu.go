package browserbench

import (
	"github.com/prometheus/procfs"
)

// cpuReading is cumulative CPU seconds at one moment: the server's, the
// browsers' (every process of their groups) and the whole machine's busy
// time; and the server's and the browsers' resident memory in bytes.
type cpuReading struct {
	server, browsers, machine float64
	serverRSS, browsersRSS    float64
}

// readCPU reads the server process pid (0: none) and the process groups
// of the browsers.
func readCPU(pid int, groups ...int) cpuReading {
	var r cpuReading
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return r
	}
	if pid > 0 {
		if p, err := fs.Proc(pid); err == nil {
			if st, err := p.Stat(); err == nil {
				r.server = st.CPUTime()
				r.serverRSS = float64(st.ResidentMemory())
			}
		}
	}
	if len(groups) > 0 {
		if procs, err := fs.AllProcs(); err == nil {
			for _, p := range procs {
				st, err := p.Stat()
				if err != nil {
					continue // gone
				}
				for _, g := range groups {
					if g > 0 && st.PGRP == g {
						r.browsers += st.CPUTime()
						r.browsersRSS += float64(st.ResidentMemory())
					}
				}
			}
		}
	}
	if st, err := fs.Stat(); err == nil {
		c := st.CPUTotal
		r.machine = c.User + c.Nice + c.System + c.IRQ + c.SoftIRQ + c.Steal
	}
	return r
}
