package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// revocation makes a revocation of client c created now (f.at) lasting ttl.
func (f *fx) revocation(c store.ClientID, kind store.RevocationKind, subject string, ttl time.Duration) store.TokenRevocation {
	at := f.at()
	return store.TokenRevocation{Kind: kind, ClientID: c, Subject: subject, CreatedAt: at, Until: at.Add(ttl)}
}

// revocations lists every revocation in force at f.now after seq.
func (f *fx) revocations(after int64) []store.TokenRevocation {
	f.t.Helper()
	l, err := f.s.ListTokenRevocations(f.ctx, after, f.now)
	f.must(err, "list token revocations")
	return l
}

func testTokenRevocations(f *fx) {
	c := f.client()
	before := f.now.Add(-time.Minute)
	a := f.revocation(c.ID, store.RevokeFamily, "fam1", time.Hour)
	b := f.revocation(c.ID, store.RevokeClientTokens, string(c.ID), time.Hour)
	b.IssuedBefore = &before
	// Not in force at f.now: its Until has passed (a revocation from the
	// past: its tokens have expired).
	gone := store.TokenRevocation{Kind: store.RevokeToken, ClientID: c.ID, Subject: "jti1", CreatedAt: f.now.Add(-2 * time.Hour), Until: f.now.Add(-time.Hour)}
	cc := f.revocation(c.ID, store.RevokeToken, "jti2", time.Hour)

	var seqs []int64
	for _, v := range []store.TokenRevocation{a, b, gone, cc} {
		v.Seq = 999_999 // ignored
		seq, err := f.s.RevokeTokens(f.ctx, v)
		f.must(err, "revoke tokens")
		if len(seqs) > 0 && seq <= seqs[len(seqs)-1] {
			f.t.Fatalf("seq %d after %d: not increasing", seq, seqs[len(seqs)-1])
		}
		seqs = append(seqs, seq)
	}
	a.Seq, b.Seq, cc.Seq = seqs[0], seqs[1], seqs[3]
	f.eq(f.revocations(0), []store.TokenRevocation{a, b, cc}, "every revocation in force, by seq")
	f.eq(f.revocations(seqs[1]), []store.TokenRevocation{cc}, "the revocations after a seq")
	f.eq(f.revocations(seqs[3]), []store.TokenRevocation(nil), "nothing after the last")
	l, err := f.s.ListTokenRevocations(f.ctx, 0, f.now.Add(2*time.Hour))
	f.must(err, "list later")
	f.eq(l, []store.TokenRevocation(nil), "nothing in force once every Until has passed")
}

// testTokenRevocationsCommitOrder: a reader that always asks for what came
// after the highest seq it saw, while writers commit concurrently, ends up
// with every revocation: no seq commits behind a reader's back.
func testTokenRevocationsCommitOrder(f *fx) {
	c := f.client()
	const writers, each = 8, 25
	var mu sync.Mutex
	written := map[int64]bool{}
	done := make(chan struct{})
	seen := map[int64]bool{}
	var last int64
	var readErr error
	var rwg sync.WaitGroup
	rwg.Go(func() {
		read := func() bool {
			l, err := f.s.ListTokenRevocations(f.ctx, last, f.now)
			if err != nil {
				readErr = err
				return false
			}
			for _, v := range l {
				if v.Seq <= last {
					readErr = fmt.Errorf("seq %d listed after %d", v.Seq, last)
					return false
				}
				seen[v.Seq], last = true, v.Seq
			}
			return true
		}
		for {
			select {
			case <-done:
				read()
				return
			default:
				if !read() {
					return
				}
			}
		}
	})
	errs := race(writers, func(i int) error {
		for j := range each {
			v := store.TokenRevocation{Kind: store.RevokeToken, ClientID: c.ID, Subject: fmt.Sprintf("w%d-%d", i, j),
				CreatedAt: f.now, Until: f.now.Add(time.Hour)}
			seq, err := f.s.RevokeTokens(f.ctx, v)
			if err != nil {
				return err
			}
			mu.Lock()
			written[seq] = true
			mu.Unlock()
		}
		return nil
	})
	close(done)
	rwg.Wait()
	f.tally(errs, nil)
	f.must(readErr, "reader")
	if len(written) != writers*each {
		f.t.Fatalf("%d distinct seqs for %d revocations", len(written), writers*each)
	}
	for seq := range written {
		if !seen[seq] {
			f.t.Fatalf("the reader never saw seq %d: it committed below a seq the reader had already seen", seq)
		}
	}
}

// testRevocationsOfDeletionsAndRotation: deleting a client or a user, and
// rotating a client's secret, record their revocations in the same
// transaction; a call that fails records nothing.
func testRevocationsOfDeletionsAndRotation(f *fx) {
	w := f.world()
	c := w.client.ID
	rotated := f.at()

	f.is(f.s.SetClientSecret(f.ctx, "missing", "x", rotated), store.ErrNotFound, "rotate a missing client's secret")
	f.is(f.s.DeleteUser(f.ctx, c, "missing"), store.ErrNotFound, "delete a missing user")
	f.is(f.s.DeleteClient(f.ctx, "missing"), store.ErrNotFound, "delete a missing client")
	f.eq(f.revocations(0), []store.TokenRevocation(nil), "no revocation from failed calls")

	f.must(f.s.SetClientSecret(f.ctx, c, "new-hash", rotated), "rotate secret")
	f.must(f.s.DeleteUser(f.ctx, c, w.member.ID), "delete user")
	f.must(f.s.DeleteClient(f.ctx, c), "delete client")
	l := f.revocations(0)
	if len(l) != 3 {
		f.t.Fatalf("revocations %+v, want 3", l)
	}
	rot, usr, cli := l[0], l[1], l[2]
	if rot.Kind != store.RevokeClientTokens || rot.ClientID != c || rot.Subject != string(c) || rot.IssuedBefore == nil ||
		!rot.IssuedBefore.Equal(rotated) || rot.Until.Sub(rotated) < store.RevocationHorizon-time.Second {
		f.t.Fatalf("secret rotation recorded %+v", rot)
	}
	if usr.Kind != store.RevokeUser || usr.ClientID != c || usr.Subject != string(w.member.ID) || usr.IssuedBefore != nil ||
		usr.Until.Sub(usr.CreatedAt) < store.RevocationHorizon-time.Second {
		f.t.Fatalf("user deletion recorded %+v", usr)
	}
	if cli.Kind != store.RevokeClient || cli.ClientID != c || cli.Subject != string(c) || cli.IssuedBefore != nil ||
		cli.Until.Sub(cli.CreatedAt) < store.RevocationHorizon-time.Second {
		f.t.Fatalf("client deletion recorded %+v", cli)
	}
}

func testSpendToken(f *fx) {
	c1, c2 := f.client(), f.client()
	t := store.SpentToken{ID: newID("jti"), ClientID: c1.ID, SpentAt: f.at(), ExpiresAt: f.now.Add(time.Hour)}
	f.must(f.s.SpendToken(f.ctx, t, nil), "spend")
	f.is(f.s.SpendToken(f.ctx, t, nil), store.ErrUsed, "spend again")
	other := t
	other.ClientID = c2.ID
	f.must(f.s.SpendToken(f.ctx, other, nil), "the same id of another client")

	// A reuse with onReuse records the revocation, in force at once.
	fam := f.revocation(c1.ID, store.RevokeFamily, "fam-"+t.ID, time.Hour)
	f.is(f.s.SpendToken(f.ctx, t, &fam), store.ErrUsed, "reuse with a revocation")
	l := f.revocations(0)
	if len(l) != 1 || l[0].Kind != store.RevokeFamily || l[0].Subject != fam.Subject || l[0].ClientID != c1.ID {
		f.t.Fatalf("revocations after a reuse: %+v", l)
	}
	// A first spend with onReuse records nothing.
	fresh := store.SpentToken{ID: newID("jti"), ClientID: c1.ID, SpentAt: f.at(), ExpiresAt: f.now.Add(time.Hour)}
	f.must(f.s.SpendToken(f.ctx, fresh, &fam), "first spend with onReuse")
	if n := len(f.revocations(0)); n != 1 {
		f.t.Fatalf("%d revocations after a first spend, want 1", n)
	}
}

// testSpendTokenConcurrent: of many concurrent spenders of one token
// exactly one wins, and the reuse revocation is recorded.
func testSpendTokenConcurrent(f *fx) {
	c := f.client()
	t := store.SpentToken{ID: newID("jti"), ClientID: c.ID, SpentAt: f.at(), ExpiresAt: f.now.Add(time.Hour)}
	fam := f.revocation(c.ID, store.RevokeFamily, "fam", time.Hour)
	errs := race(Concurrent, func(int) error { return f.s.SpendToken(f.ctx, t, &fam) })
	if wins, losses := f.tally(errs, store.ErrUsed); wins != 1 || losses != Concurrent-1 {
		f.t.Fatalf("%d spenders won, %d lost; want exactly one winner", wins, losses)
	}
	if l := f.revocations(0); len(l) == 0 || l[0].Subject != "fam" {
		f.t.Fatalf("no family revocation after concurrent reuse: %+v", l)
	}
}
