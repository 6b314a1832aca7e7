package storage_test

import "testing"

// BenchmarkPendingInvitationMemory measures what a pending invitation costs
// in Redis, all its keys and index entries, over 100,000 of them (INFO
// used_memory before and after, and MEMORY USAGE of each kind of key), and
// fails above 1 KiB. The figure is the bytes/invitation metric; the
// breakdown is logged.
func BenchmarkPendingInvitationMemory(b *testing.B) {
	for range b.N { // one measurement however often it is called
		per, report := memoryPerInvitation(b, 100_000)
		b.Log(report)
		b.ReportMetric(per, "bytes/invitation")
		if per > 1024 {
			b.Errorf("%.0f bytes per pending invitation, want at most 1 KiB", per)
		}
	}
}
