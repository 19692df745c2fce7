package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spacecast/spacecast/controlplane/store"
)

// Benchmarks run their parallel part with benchParallelism goroutines per
// core, like an HTTP server with many requests in flight.
//
//	go test -run '^$' -bench . -benchmem ./controlplane/store/sqlite/
const benchParallelism = 4

// benchWorld is a populated store: one client, users, a space and rooms.
type benchWorld struct {
	s     *Store
	c     store.ClientID
	users []store.User
	space store.SpaceID
	rooms []store.Room
	tok   []string // personal token hashes
	now   time.Time
}

func newBenchWorld(b *testing.B, nUsers, nRooms int) *benchWorld {
	b.Helper()
	s := openTemp(b)
	ctx := context.Background()
	now := time.Now().UTC()
	w := &benchWorld{s: s, c: "bench-client", space: "bench-space", now: now}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(s.CreateClient(ctx, store.Client{ID: w.c, Name: "bench", SecretHash: "h", CreatedAt: now}))
	for i := range nUsers {
		u := store.User{ID: store.UserID(fmt.Sprintf("u%06d", i)), ClientID: w.c, Email: fmt.Sprintf("u%d@example.com", i),
			Username: "user", PasswordHash: "$argon2id$x", CreatedAt: now}
		must(s.CreateUser(ctx, u))
		w.users = append(w.users, u)
		t := store.PersonalToken{ID: fmt.Sprintf("pt%06d", i), ClientID: w.c, UserID: u.ID, Name: "app",
			TokenHash: fmt.Sprintf("hash%06d", i), CreatedAt: now}
		must(s.CreatePersonalToken(ctx, t))
		w.tok = append(w.tok, t.TokenHash)
	}
	must(s.CreateSpace(ctx, store.Space{ID: w.space, ClientID: w.c, OwnerID: w.users[0].ID, Name: "bench", CreatedAt: now, UpdatedAt: now}))
	for i := range nRooms {
		r := benchRoom(w, fmt.Sprintf("r%06d", i), now.Add(time.Duration(i)*time.Millisecond))
		must(s.CreateRoom(ctx, r))
		w.rooms = append(w.rooms, r)
	}
	return w
}

func benchRoom(w *benchWorld, id string, at time.Time) store.Room {
	return store.Room{ID: store.RoomID(id), ClientID: w.c, SpaceID: w.space, OwnerID: w.users[0].ID, Alias: "a" + id,
		ChannelID: "ch" + id, Name: "room " + id, Type: store.RoomTypeLesson, IsPublic: true,
		Flags: store.RoomFlags{IsChatAllowed: true, IsCameraPublishingAllowed: true, IsMicrophonePublishingAllowed: true,
			WaitingRoomAudience: "nobody"}, CreatedAt: at, UpdatedAt: at}
}

// bulkLinks inserts n links to the first room in one transaction (setup
// only: the benchmark then redeems them one by one).
func (w *benchWorld) bulkLinks(b *testing.B, prefix string, n int, permanent bool) []string {
	b.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	r := w.rooms[0]
	err := w.s.inTx(ctx, "bulk links", func(tx *sql.Tx) error {
		st := tx.StmtContext(ctx, w.s.st.insertLink)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s%09d", prefix, i)
			if _, err := st.ExecContext(ctx, w.c, ids[i], r.SpaceID, r.ID, "Guest", store.LinkRoleUser, "", "", "", "",
				boolInt(permanent), r.OwnerID, ms(w.now), ms(w.now.Add(time.Hour)), nil, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return ids
}

func BenchmarkRedeemAccessLink(b *testing.B) {
	w := newBenchWorld(b, 10, 10)
	ids := w.bulkLinks(b, fmt.Sprintf("lk%d-", b.N), b.N, false)
	var next atomic.Int64
	ctx := context.Background()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[next.Add(1)-1]
			if _, err := w.s.RedeemAccessLink(ctx, w.c, id, w.now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRedeemAccessLinkSerial is one redeemer at a time: the latency of
// one redemption.
func BenchmarkRedeemAccessLinkSerial(b *testing.B) {
	w := newBenchWorld(b, 10, 10)
	ids := w.bulkLinks(b, fmt.Sprintf("ser%d-", b.N), b.N, false)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, err := w.s.RedeemAccessLink(ctx, w.c, ids[i], w.now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedeemAccessLinkPermanent(b *testing.B) {
	w := newBenchWorld(b, 10, 10)
	ids := w.bulkLinks(b, "perm", 64, true)
	ctx := context.Background()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.s.RedeemAccessLink(ctx, w.c, ids[rand.IntN(len(ids))], w.now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRedeemAccessLinkSpent measures the refusal path: every call hits
// an already used link.
func BenchmarkRedeemAccessLinkSpent(b *testing.B) {
	w := newBenchWorld(b, 10, 10)
	ids := w.bulkLinks(b, "spent", 1, false)
	ctx := context.Background()
	if _, err := w.s.RedeemAccessLink(ctx, w.c, ids[0], w.now); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.s.RedeemAccessLink(ctx, w.c, ids[0], w.now); !errors.Is(err, store.ErrUsed) {
				b.Errorf("got %v, want ErrUsed", err)
				return
			}
		}
	})
}

func BenchmarkActivateInvite(b *testing.B) {
	w := newBenchWorld(b, 1000, 10)
	ctx := context.Background()
	ids := make([]string, b.N)
	err := w.s.inTx(ctx, "bulk invites", func(tx *sql.Tx) error {
		st := tx.StmtContext(ctx, w.s.st.insertInvite)
		for i := range ids {
			ids[i] = fmt.Sprintf("inv%d-%09d", b.N, i)
			if _, err := st.ExecContext(ctx, w.c, ids[i], w.space, store.SpaceRoleUser, w.users[0].ID, ms(w.now), nil, "", nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			u := w.users[1+int(i)%(len(w.users)-1)]
			if _, err := w.s.ActivateInvite(ctx, w.c, w.space, ids[i], u.ID, w.now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCreateRoom(b *testing.B) {
	w := newBenchWorld(b, 10, 10)
	ctx := context.Background()
	var next atomic.Int64
	prefix := fmt.Sprintf("new%d-", b.N)
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := benchRoom(w, fmt.Sprintf("%s%09d", prefix, next.Add(1)), w.now)
			if err := w.s.CreateRoom(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchRead runs a read against a store of 1,000 users and 1,000 rooms.
func benchRead(b *testing.B, read func(ctx context.Context, w *benchWorld, i int) error) {
	w := newBenchWorld(b, 1000, 1000)
	ctx := context.Background()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := read(ctx, w, rand.IntN(1000)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGetRoom(b *testing.B) {
	benchRead(b, func(ctx context.Context, w *benchWorld, i int) error {
		_, err := w.s.GetRoom(ctx, w.c, w.space, w.rooms[i].ID)
		return err
	})
}

func BenchmarkGetRoomByAlias(b *testing.B) {
	benchRead(b, func(ctx context.Context, w *benchWorld, i int) error {
		_, err := w.s.GetRoomByAlias(ctx, w.rooms[i].Alias)
		return err
	})
}

func BenchmarkGetUser(b *testing.B) {
	benchRead(b, func(ctx context.Context, w *benchWorld, i int) error {
		_, err := w.s.GetUser(ctx, w.c, w.users[i].ID)
		return err
	})
}

func BenchmarkGetClient(b *testing.B) {
	benchRead(b, func(ctx context.Context, w *benchWorld, _ int) error {
		_, err := w.s.GetClient(ctx, w.c)
		return err
	})
}

func BenchmarkGetPersonalTokenByHash(b *testing.B) {
	benchRead(b, func(ctx context.Context, w *benchWorld, i int) error {
		_, err := w.s.GetPersonalTokenByHash(ctx, w.tok[i])
		return err
	})
}

func BenchmarkGetRoomMember(b *testing.B) {
	benchRead(b, func(ctx context.Context, w *benchWorld, i int) error {
		_, err := w.s.GetRoomMember(ctx, w.c, w.rooms[i].ID, w.users[0].ID)
		return err
	})
}

func BenchmarkGetSpace(b *testing.B) {
	benchRead(b, func(ctx context.Context, w *benchWorld, _ int) error {
		_, err := w.s.GetSpace(ctx, w.c, w.space)
		return err
	})
}

func BenchmarkGetSpaceMember(b *testing.B) {
	benchRead(b, func(ctx context.Context, w *benchWorld, _ int) error {
		_, err := w.s.GetSpaceMember(ctx, w.c, w.space, w.users[0].ID)
		return err
	})
}

func BenchmarkListRooms(b *testing.B) {
	benchRead(b, func(ctx context.Context, w *benchWorld, i int) error {
		_, _, err := w.s.ListRooms(ctx, w.c, w.space, store.Page{Offset: i % 950, Limit: 50})
		return err
	})
}

// BenchmarkMixed is 95% GetRoom and 5% single-use redemptions at once:
// writes must not stall the readers.
func BenchmarkMixed(b *testing.B) {
	w := newBenchWorld(b, 100, 1000)
	ids := w.bulkLinks(b, fmt.Sprintf("mix%d-", b.N), b.N/20+1, false)
	ctx := context.Background()
	var next, links atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			var err error
			if next.Add(1)%20 == 0 {
				if j := links.Add(1) - 1; int(j) < len(ids) {
					_, err = w.s.RedeemAccessLink(ctx, w.c, ids[j], w.now)
				}
			} else {
				_, err = w.s.GetRoom(ctx, w.c, w.space, w.rooms[rand.IntN(len(w.rooms))].ID)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
