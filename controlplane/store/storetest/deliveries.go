package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

func (f *fx) event(c store.ClientID, sp store.SpaceID, room store.RoomID, name string) store.WebhookEvent {
	return store.WebhookEvent{ID: newID("ev"), Name: name, ClientID: c, SpaceID: sp, RoomID: room, CallID: "call", At: f.at()}
}

func (f *fx) enqueue(ev store.WebhookEvent) string {
	f.t.Helper()
	id := newID("dl")
	ok, err := f.s.EnqueueWebhookEvent(f.ctx, id, ev, f.now)
	f.must(err, "enqueue")
	if !ok {
		f.t.Fatal("enqueue: no webhook")
	}
	return id
}

func (f *fx) claim(owner string, max, perTenant int, now time.Time) []store.WebhookDelivery {
	f.t.Helper()
	l, err := f.s.ClaimWebhookDeliveries(f.ctx, store.WebhookClaim{Owner: owner, Max: max, PerTenant: perTenant, Now: now, LeaseUntil: now.Add(time.Minute)})
	f.must(err, "claim")
	return l
}

// pending checks the outbox's depth.
func (f *fx) pending(want int, what string) {
	f.t.Helper()
	n, err := f.s.PendingWebhookDeliveries(f.ctx)
	f.must(err, "pending deliveries")
	if n != want {
		f.t.Fatalf("%s: %d pending deliveries, want %d", what, n, want)
	}
}

func deliveryIDs(l []store.WebhookDelivery) []string {
	var out []string
	for _, d := range l {
		out = append(out, d.ID)
	}
	return out
}

// testDeliveries: the outbox queues an event only for an active webhook;
// a claim hands out the first pending delivery of each room, the oldest of
// each client first, no more of one client in flight than allowed; an
// attempt is recorded only by the claim that holds it; retries wait;
// an expired lease is claimed again; the log lists, redelivers, prunes.
func testDeliveries(f *fx) {
	a, b := f.world(), f.world()
	ca, cb := a.client.ID, b.client.ID
	rA2 := f.room(ca, a.space.ID, a.owner.ID)
	noHook := f.space(ca, a.owner.ID)
	ok, err := f.s.EnqueueWebhookEvent(f.ctx, newID("dl"), f.event(ca, noHook.ID, "r", store.EventCallStarted), f.now)
	f.must(err, "enqueue without webhook")
	if ok {
		f.t.Fatal("queued an event for a space without a webhook")
	}

	d1 := f.enqueue(f.event(ca, a.space.ID, a.room.ID, store.EventCallStarted))
	d2 := f.enqueue(f.event(ca, a.space.ID, a.room.ID, store.EventCallFinished))
	d3 := f.enqueue(f.event(ca, a.space.ID, rA2.ID, store.EventCallStarted))
	d4 := f.enqueue(f.event(cb, b.space.ID, b.room.ID, store.EventCallStarted))
	now := f.now.Add(time.Second)
	f.pending(4, "queued, of both clients")

	got := f.claim("r1", 10, 2, now)
	f.eq(deliveryIDs(got), []string{d1, d4, d3}, "first claim: the heads of the rooms, clients in turn")
	for _, d := range got {
		if d.Attempts != 1 || d.LeaseOwner != "r1" || d.LeaseUntil == nil || d.Status != store.DeliveryPending {
			f.t.Fatalf("claimed %+v", d)
		}
	}
	if again := f.claim("r2", 10, 2, now); len(again) != 0 {
		f.t.Fatalf("claimed twice, or past a room's head: %v", deliveryIDs(again))
	}
	attempt := func(id string, client store.ClientID, owner string, n int, out store.AttemptOutcome, next time.Time) error {
		return f.s.RecordWebhookAttempt(f.ctx, store.WebhookAttempt{ClientID: client, DeliveryID: id, Owner: owner, Attempt: n,
			Outcome: out, At: now, NextAttemptAt: next, StatusCode: 500, Error: "receiver answered 500"})
	}
	f.is(attempt(d1, ca, "r2", 1, store.AttemptDelivered, now), store.ErrNotFound, "record by another owner")
	f.is(attempt(d1, ca, "r1", 2, store.AttemptDelivered, now), store.ErrNotFound, "record of another attempt")
	f.is(attempt(d1, cb, "r1", 1, store.AttemptDelivered, now), store.ErrNotFound, "record through another client")
	f.must(attempt(d1, ca, "r1", 1, store.AttemptDelivered, now), "record delivered")
	f.pending(3, "one delivered, the claimed ones still pending")
	f.is(attempt(d1, ca, "r1", 1, store.AttemptDelivered, now), store.ErrNotFound, "record twice")
	f.eq(deliveryIDs(f.claim("r2", 10, 2, now)), []string{d2}, "the room's next delivery after the first is done")

	// A retry waits for its time; the room's next waits behind it.
	f.must(attempt(d3, ca, "r1", 1, store.AttemptRetry, now.Add(20*time.Second)), "record retry")
	if l := f.claim("r2", 10, 5, now.Add(10*time.Second)); len(l) != 0 {
		f.t.Fatalf("claimed before the retry time: %v", deliveryIDs(l))
	}
	retried := f.claim("r2", 10, 5, now.Add(20*time.Second))
	if len(retried) != 1 || retried[0].ID != d3 || retried[0].Attempts != 2 || retried[0].LastStatusCode != 500 || retried[0].LastError == "" {
		f.t.Fatalf("retry: %+v", retried)
	}
	f.must(attempt(d3, ca, "r2", 2, store.AttemptFailed, now), "record failed")
	f.pending(2, "one delivered, one failed")

	// A lease that runs out (its replica died) is claimed again; the old
	// attempt can no longer record.
	if l := f.claim("other", 10, 5, now.Add(30*time.Second)); len(l) != 0 {
		f.t.Fatalf("d2 and d4 are leased until their leases end: %v", deliveryIDs(l))
	}
	later := now.Add(10 * time.Minute)
	re := f.claim("r3", 10, 5, later) // r1's lease on d4 and r2's on d2 ended
	f.eq(deliveryIDs(re), []string{d2, d4}, "expired leases claimed again")
	f.is(attempt(d4, cb, "r1", 1, store.AttemptDelivered, now), store.ErrNotFound, "the dead claim records")
	f.must(attempt(d4, cb, "r3", 2, store.AttemptDelivered, now), "the new claim records")
	f.must(attempt(d2, ca, "r3", 2, store.AttemptDelivered, now), "d2 delivered")

	// The log.
	l, total, err := f.s.ListWebhookDeliveries(f.ctx, ca, a.space.ID, store.Page{})
	f.must(err, "list")
	if total != 3 || len(l) != 3 || l[0].ID != d3 || l[1].ID != d2 || l[2].ID != d1 || l[0].Status != store.DeliveryFailed || l[2].Status != store.DeliveryDelivered ||
		l[2].DeliveredAt == nil || l[0].Attempts != 2 {
		f.t.Fatalf("log: %+v", l)
	}
	one, err := f.s.GetWebhookDelivery(f.ctx, ca, a.space.ID, d1)
	f.must(err, "get")
	f.eq(one, l[2], "get equals list")
	_, err = f.s.GetWebhookDelivery(f.ctx, cb, a.space.ID, d1)
	f.is(err, store.ErrNotFound, "another client's delivery")
	_, _, err = f.s.ListWebhookDeliveries(f.ctx, cb, a.space.ID, store.Page{})
	f.is(err, store.ErrNotFound, "another client's log")

	// Redelivery: a new delivery of the same event.
	rd, err := f.s.RedeliverWebhook(f.ctx, ca, a.space.ID, d3, "redelivery-1", later)
	f.must(err, "redeliver")
	if rd.ID != "redelivery-1" || rd.Event.ID != l[0].Event.ID || rd.RedeliveryOf != d3 || rd.Status != store.DeliveryPending || rd.Attempts != 0 {
		f.t.Fatalf("redelivery %+v", rd)
	}
	f.eq(deliveryIDs(f.claim("r4", 10, 5, later.Add(time.Hour))), []string{"redelivery-1"}, "the redelivery is claimed")
	_, err = f.s.RedeliverWebhook(f.ctx, ca, a.space.ID, "missing", "x", later)
	f.is(err, store.ErrNotFound, "redeliver a missing delivery")
	_, err = f.s.RedeliverWebhook(f.ctx, cb, a.space.ID, d3, "x", later)
	f.is(err, store.ErrNotFound, "redeliver another client's delivery")
	hook := a.webhook
	hook.IsActive = false
	f.must(f.s.PutWebhook(f.ctx, hook), "deactivate")
	_, err = f.s.RedeliverWebhook(f.ctx, ca, a.space.ID, d3, "x", later)
	f.is(err, store.ErrConflict, "redeliver to an inactive webhook")

	// Pruning forgets finished deliveries only.
	n, err := f.s.PruneWebhookDeliveries(f.ctx, later.Add(time.Hour))
	f.must(err, "prune")
	if n != 4 { // d1, d2 (delivered), d3 (failed), d4 (delivered); the redelivery is pending
		f.t.Fatalf("pruned %d", n)
	}
	if _, total, _ = f.s.ListWebhookDeliveries(f.ctx, ca, a.space.ID, store.Page{}); total != 1 {
		f.t.Fatalf("%d left after pruning", total)
	}
	// A deleted space takes its log with it.
	f.must(f.s.DeleteSpace(f.ctx, ca, a.space.ID), "delete space")
	f.must(f.s.DeleteSpace(f.ctx, cb, b.space.ID), "delete space b")
	if l := f.claim("r5", 10, 5, later.Add(2*time.Hour)); len(l) != 0 {
		f.t.Fatalf("deliveries of deleted spaces claimed: %v", deliveryIDs(l))
	}
}

// testDeliveriesConcurrentClaims: claimers racing (replicas) get each
// delivery once, and never more than PerTenant of one client in flight.
func testDeliveriesConcurrentClaims(f *fx) {
	w := f.world()
	c := w.client.ID
	const n = 40
	want := map[string]bool{}
	for i := range n {
		r := f.room(c, w.space.ID, w.owner.ID)
		want[f.enqueue(f.event(c, w.space.ID, r.ID, fmt.Sprintf("e%d", i)))] = true
	}
	now := f.now.Add(time.Second)
	var mu sync.Mutex
	got := map[string]int{}
	errs := race(8, func(i int) error {
		l, err := f.s.ClaimWebhookDeliveries(f.ctx, store.WebhookClaim{Owner: fmt.Sprintf("r%d", i), Max: 5, PerTenant: 12, Now: now, LeaseUntil: now.Add(time.Minute)})
		mu.Lock()
		for _, d := range l {
			got[d.ID]++
		}
		mu.Unlock()
		return err
	})
	f.tally(errs, nil)
	if len(got) != 12 {
		f.t.Fatalf("%d deliveries in flight, want the per-client cap 12", len(got))
	}
	for id, k := range got {
		if k != 1 || !want[id] {
			f.t.Fatalf("delivery %s claimed %d times", id, k)
		}
	}
}
