package store

import (
	"context"
	"time"
)

// Observer hears every operation of an Observed store: its name (the
// Store method's), how long it took and its error (nil on success; the
// sentinel errors above are outcomes, not failures of the store). It is
// called from the caller's goroutine and must not block.
type Observer func(op string, took time.Duration, err error)

// Observed returns s with each of its operations timed and told to obs
// (metrics of the store's latency). Listen and Close are passed through
// untimed: one lasts as long as its context, the other is not asked for
// while serving.
func Observed(s Store, obs Observer) Store { return &observed{s: s, obs: obs} }

// observed is the Store that Observed returns.
type observed struct {
	s   Store
	obs Observer
}

func (o *observed) CreateClient(ctx context.Context, c Client) error {
	start := time.Now()
	err := o.s.CreateClient(ctx, c)
	o.obs("CreateClient", time.Since(start), err)
	return err
}

func (o *observed) GetClient(ctx context.Context, id ClientID) (Client, error) {
	start := time.Now()
	r0, err := o.s.GetClient(ctx, id)
	o.obs("GetClient", time.Since(start), err)
	return r0, err
}

func (o *observed) ListClients(ctx context.Context) ([]Client, error) {
	start := time.Now()
	r0, err := o.s.ListClients(ctx)
	o.obs("ListClients", time.Since(start), err)
	return r0, err
}

func (o *observed) SetClientSecret(ctx context.Context, id ClientID, secretHash string, at time.Time) error {
	start := time.Now()
	err := o.s.SetClientSecret(ctx, id, secretHash, at)
	o.obs("SetClientSecret", time.Since(start), err)
	return err
}

func (o *observed) DeleteClient(ctx context.Context, id ClientID) error {
	start := time.Now()
	err := o.s.DeleteClient(ctx, id)
	o.obs("DeleteClient", time.Since(start), err)
	return err
}

func (o *observed) CreateUser(ctx context.Context, u User) error {
	start := time.Now()
	err := o.s.CreateUser(ctx, u)
	o.obs("CreateUser", time.Since(start), err)
	return err
}

func (o *observed) GetUser(ctx context.Context, client ClientID, id UserID) (User, error) {
	start := time.Now()
	r0, err := o.s.GetUser(ctx, client, id)
	o.obs("GetUser", time.Since(start), err)
	return r0, err
}

func (o *observed) GetUserByEmail(ctx context.Context, client ClientID, email string) (User, error) {
	start := time.Now()
	r0, err := o.s.GetUserByEmail(ctx, client, email)
	o.obs("GetUserByEmail", time.Since(start), err)
	return r0, err
}

func (o *observed) DeleteUser(ctx context.Context, client ClientID, id UserID) error {
	start := time.Now()
	err := o.s.DeleteUser(ctx, client, id)
	o.obs("DeleteUser", time.Since(start), err)
	return err
}

func (o *observed) CreatePersonalToken(ctx context.Context, t PersonalToken) error {
	start := time.Now()
	err := o.s.CreatePersonalToken(ctx, t)
	o.obs("CreatePersonalToken", time.Since(start), err)
	return err
}

func (o *observed) ListPersonalTokens(ctx context.Context, client ClientID, user UserID) ([]PersonalToken, error) {
	start := time.Now()
	r0, err := o.s.ListPersonalTokens(ctx, client, user)
	o.obs("ListPersonalTokens", time.Since(start), err)
	return r0, err
}

func (o *observed) GetPersonalTokenByHash(ctx context.Context, tokenHash string) (PersonalToken, error) {
	start := time.Now()
	r0, err := o.s.GetPersonalTokenByHash(ctx, tokenHash)
	o.obs("GetPersonalTokenByHash", time.Since(start), err)
	return r0, err
}

func (o *observed) DeletePersonalToken(ctx context.Context, client ClientID, user UserID, id string) error {
	start := time.Now()
	err := o.s.DeletePersonalToken(ctx, client, user, id)
	o.obs("DeletePersonalToken", time.Since(start), err)
	return err
}

func (o *observed) CreateSpace(ctx context.Context, s Space) error {
	start := time.Now()
	err := o.s.CreateSpace(ctx, s)
	o.obs("CreateSpace", time.Since(start), err)
	return err
}

func (o *observed) GetSpace(ctx context.Context, client ClientID, id SpaceID) (Space, error) {
	start := time.Now()
	r0, err := o.s.GetSpace(ctx, client, id)
	o.obs("GetSpace", time.Since(start), err)
	return r0, err
}

func (o *observed) ListSpacesForUser(ctx context.Context, client ClientID, user UserID, p Page) ([]Space, int, error) {
	start := time.Now()
	r0, r1, err := o.s.ListSpacesForUser(ctx, client, user, p)
	o.obs("ListSpacesForUser", time.Since(start), err)
	return r0, r1, err
}

func (o *observed) UpdateSpace(ctx context.Context, s Space) error {
	start := time.Now()
	err := o.s.UpdateSpace(ctx, s)
	o.obs("UpdateSpace", time.Since(start), err)
	return err
}

func (o *observed) DeleteSpace(ctx context.Context, client ClientID, id SpaceID) error {
	start := time.Now()
	err := o.s.DeleteSpace(ctx, client, id)
	o.obs("DeleteSpace", time.Since(start), err)
	return err
}

func (o *observed) GetSpaceMember(ctx context.Context, client ClientID, space SpaceID, user UserID) (SpaceMember, error) {
	start := time.Now()
	r0, err := o.s.GetSpaceMember(ctx, client, space, user)
	o.obs("GetSpaceMember", time.Since(start), err)
	return r0, err
}

func (o *observed) ListSpaceMembers(ctx context.Context, client ClientID, space SpaceID) ([]SpaceMember, error) {
	start := time.Now()
	r0, err := o.s.ListSpaceMembers(ctx, client, space)
	o.obs("ListSpaceMembers", time.Since(start), err)
	return r0, err
}

func (o *observed) CreateInvite(ctx context.Context, inv Invite) error {
	start := time.Now()
	err := o.s.CreateInvite(ctx, inv)
	o.obs("CreateInvite", time.Since(start), err)
	return err
}

func (o *observed) GetInvite(ctx context.Context, client ClientID, space SpaceID, id string) (Invite, error) {
	start := time.Now()
	r0, err := o.s.GetInvite(ctx, client, space, id)
	o.obs("GetInvite", time.Since(start), err)
	return r0, err
}

func (o *observed) ActivateInvite(ctx context.Context, client ClientID, space SpaceID, id string, user UserID, now time.Time) (Invite, error) {
	start := time.Now()
	r0, err := o.s.ActivateInvite(ctx, client, space, id, user, now)
	o.obs("ActivateInvite", time.Since(start), err)
	return r0, err
}

func (o *observed) CreateRoom(ctx context.Context, r Room) error {
	start := time.Now()
	err := o.s.CreateRoom(ctx, r)
	o.obs("CreateRoom", time.Since(start), err)
	return err
}

func (o *observed) GetRoom(ctx context.Context, client ClientID, space SpaceID, id RoomID) (Room, error) {
	start := time.Now()
	r0, err := o.s.GetRoom(ctx, client, space, id)
	o.obs("GetRoom", time.Since(start), err)
	return r0, err
}

func (o *observed) GetRoomByAlias(ctx context.Context, alias string) (Room, error) {
	start := time.Now()
	r0, err := o.s.GetRoomByAlias(ctx, alias)
	o.obs("GetRoomByAlias", time.Since(start), err)
	return r0, err
}

func (o *observed) GetRoomByID(ctx context.Context, id RoomID) (Room, error) {
	start := time.Now()
	r0, err := o.s.GetRoomByID(ctx, id)
	o.obs("GetRoomByID", time.Since(start), err)
	return r0, err
}

func (o *observed) ListRooms(ctx context.Context, client ClientID, space SpaceID, p Page) ([]Room, int, error) {
	start := time.Now()
	r0, r1, err := o.s.ListRooms(ctx, client, space, p)
	o.obs("ListRooms", time.Since(start), err)
	return r0, r1, err
}

func (o *observed) ListVisibleRooms(ctx context.Context, client ClientID, space SpaceID, user UserID, p Page) ([]RoomWithRole, int, error) {
	start := time.Now()
	r0, r1, err := o.s.ListVisibleRooms(ctx, client, space, user, p)
	o.obs("ListVisibleRooms", time.Since(start), err)
	return r0, r1, err
}

func (o *observed) UpdateRoom(ctx context.Context, r Room) error {
	start := time.Now()
	err := o.s.UpdateRoom(ctx, r)
	o.obs("UpdateRoom", time.Since(start), err)
	return err
}

func (o *observed) DeleteRoom(ctx context.Context, client ClientID, space SpaceID, id RoomID) error {
	start := time.Now()
	err := o.s.DeleteRoom(ctx, client, space, id)
	o.obs("DeleteRoom", time.Since(start), err)
	return err
}

func (o *observed) SetRoomMember(ctx context.Context, client ClientID, m RoomMember) error {
	start := time.Now()
	err := o.s.SetRoomMember(ctx, client, m)
	o.obs("SetRoomMember", time.Since(start), err)
	return err
}

func (o *observed) GetRoomMember(ctx context.Context, client ClientID, room RoomID, user UserID) (RoomMember, error) {
	start := time.Now()
	r0, err := o.s.GetRoomMember(ctx, client, room, user)
	o.obs("GetRoomMember", time.Since(start), err)
	return r0, err
}

func (o *observed) ListRoomMembers(ctx context.Context, client ClientID, room RoomID, p Page) ([]RoomMember, int, error) {
	start := time.Now()
	r0, r1, err := o.s.ListRoomMembers(ctx, client, room, p)
	o.obs("ListRoomMembers", time.Since(start), err)
	return r0, r1, err
}

func (o *observed) CreateAccessLink(ctx context.Context, l AccessLink) error {
	start := time.Now()
	err := o.s.CreateAccessLink(ctx, l)
	o.obs("CreateAccessLink", time.Since(start), err)
	return err
}

func (o *observed) GetAccessLink(ctx context.Context, client ClientID, id string) (AccessLink, error) {
	start := time.Now()
	r0, err := o.s.GetAccessLink(ctx, client, id)
	o.obs("GetAccessLink", time.Since(start), err)
	return r0, err
}

func (o *observed) RedeemAccessLink(ctx context.Context, client ClientID, id string, now time.Time) (AccessLink, error) {
	start := time.Now()
	r0, err := o.s.RedeemAccessLink(ctx, client, id, now)
	o.obs("RedeemAccessLink", time.Since(start), err)
	return r0, err
}

func (o *observed) PutWebhook(ctx context.Context, w Webhook) error {
	start := time.Now()
	err := o.s.PutWebhook(ctx, w)
	o.obs("PutWebhook", time.Since(start), err)
	return err
}

func (o *observed) GetWebhook(ctx context.Context, client ClientID, space SpaceID) (Webhook, error) {
	start := time.Now()
	r0, err := o.s.GetWebhook(ctx, client, space)
	o.obs("GetWebhook", time.Since(start), err)
	return r0, err
}

func (o *observed) DeleteWebhook(ctx context.Context, client ClientID, space SpaceID) error {
	start := time.Now()
	err := o.s.DeleteWebhook(ctx, client, space)
	o.obs("DeleteWebhook", time.Since(start), err)
	return err
}

func (o *observed) AddSigningKey(ctx context.Context, k SigningKey) error {
	start := time.Now()
	err := o.s.AddSigningKey(ctx, k)
	o.obs("AddSigningKey", time.Since(start), err)
	return err
}

func (o *observed) ListSigningKeys(ctx context.Context) ([]SigningKey, error) {
	start := time.Now()
	r0, err := o.s.ListSigningKeys(ctx)
	o.obs("ListSigningKeys", time.Since(start), err)
	return r0, err
}

func (o *observed) RetireSigningKey(ctx context.Context, id string, retiredAt time.Time, expiresAt time.Time) error {
	start := time.Now()
	err := o.s.RetireSigningKey(ctx, id, retiredAt, expiresAt)
	o.obs("RetireSigningKey", time.Since(start), err)
	return err
}

func (o *observed) DeleteExpiredSigningKeys(ctx context.Context, now time.Time) error {
	start := time.Now()
	err := o.s.DeleteExpiredSigningKeys(ctx, now)
	o.obs("DeleteExpiredSigningKeys", time.Since(start), err)
	return err
}

func (o *observed) RevokeTokens(ctx context.Context, r TokenRevocation) (int64, error) {
	start := time.Now()
	r0, err := o.s.RevokeTokens(ctx, r)
	o.obs("RevokeTokens", time.Since(start), err)
	return r0, err
}

func (o *observed) ListTokenRevocations(ctx context.Context, after int64, now time.Time) ([]TokenRevocation, error) {
	start := time.Now()
	r0, err := o.s.ListTokenRevocations(ctx, after, now)
	o.obs("ListTokenRevocations", time.Since(start), err)
	return r0, err
}

func (o *observed) SpendToken(ctx context.Context, t SpentToken, onReuse *TokenRevocation) error {
	start := time.Now()
	err := o.s.SpendToken(ctx, t, onReuse)
	o.obs("SpendToken", time.Since(start), err)
	return err
}

func (o *observed) TakeRateToken(ctx context.Context, key string, interval time.Duration, burst int, now time.Time) (bool, time.Time, error) {
	start := time.Now()
	r0, r1, err := o.s.TakeRateToken(ctx, key, interval, burst, now)
	o.obs("TakeRateToken", time.Since(start), err)
	return r0, r1, err
}

func (o *observed) RefundRateToken(ctx context.Context, key string, interval time.Duration, now time.Time) error {
	start := time.Now()
	err := o.s.RefundRateToken(ctx, key, interval, now)
	o.obs("RefundRateToken", time.Since(start), err)
	return err
}

func (o *observed) PruneRateTokens(ctx context.Context, now time.Time) error {
	start := time.Now()
	err := o.s.PruneRateTokens(ctx, now)
	o.obs("PruneRateTokens", time.Since(start), err)
	return err
}

func (o *observed) Listen(ctx context.Context, fn func(Topic)) error {
	return o.s.Listen(ctx, fn)
}

func (o *observed) ApplyEdgeReport(ctx context.Context, r EdgeReport, now time.Time) error {
	start := time.Now()
	err := o.s.ApplyEdgeReport(ctx, r, now)
	o.obs("ApplyEdgeReport", time.Since(start), err)
	return err
}

func (o *observed) SweepCalls(ctx context.Context, silentBefore time.Time, emptyBefore time.Time) (int, error) {
	start := time.Now()
	r0, err := o.s.SweepCalls(ctx, silentBefore, emptyBefore)
	o.obs("SweepCalls", time.Since(start), err)
	return r0, err
}

func (o *observed) ListCalls(ctx context.Context, client ClientID, space SpaceID, f CallFilter, p Page) ([]Call, int, error) {
	start := time.Now()
	r0, r1, err := o.s.ListCalls(ctx, client, space, f, p)
	o.obs("ListCalls", time.Since(start), err)
	return r0, r1, err
}

func (o *observed) GetCall(ctx context.Context, client ClientID, space SpaceID, id CallID) (Call, error) {
	start := time.Now()
	r0, err := o.s.GetCall(ctx, client, space, id)
	o.obs("GetCall", time.Since(start), err)
	return r0, err
}

func (o *observed) ListCallSessions(ctx context.Context, client ClientID, space SpaceID, id CallID) ([]CallSession, error) {
	start := time.Now()
	r0, err := o.s.ListCallSessions(ctx, client, space, id)
	o.obs("ListCallSessions", time.Since(start), err)
	return r0, err
}

func (o *observed) EnqueueWebhookEvent(ctx context.Context, id string, ev WebhookEvent, now time.Time) (bool, error) {
	start := time.Now()
	r0, err := o.s.EnqueueWebhookEvent(ctx, id, ev, now)
	o.obs("EnqueueWebhookEvent", time.Since(start), err)
	return r0, err
}

func (o *observed) ClaimWebhookDeliveries(ctx context.Context, c WebhookClaim) ([]WebhookDelivery, error) {
	start := time.Now()
	r0, err := o.s.ClaimWebhookDeliveries(ctx, c)
	o.obs("ClaimWebhookDeliveries", time.Since(start), err)
	return r0, err
}

func (o *observed) RecordWebhookAttempt(ctx context.Context, a WebhookAttempt) error {
	start := time.Now()
	err := o.s.RecordWebhookAttempt(ctx, a)
	o.obs("RecordWebhookAttempt", time.Since(start), err)
	return err
}

func (o *observed) ListWebhookDeliveries(ctx context.Context, client ClientID, space SpaceID, p Page) ([]WebhookDelivery, int, error) {
	start := time.Now()
	r0, r1, err := o.s.ListWebhookDeliveries(ctx, client, space, p)
	o.obs("ListWebhookDeliveries", time.Since(start), err)
	return r0, r1, err
}

func (o *observed) GetWebhookDelivery(ctx context.Context, client ClientID, space SpaceID, id string) (WebhookDelivery, error) {
	start := time.Now()
	r0, err := o.s.GetWebhookDelivery(ctx, client, space, id)
	o.obs("GetWebhookDelivery", time.Since(start), err)
	return r0, err
}

func (o *observed) RedeliverWebhook(ctx context.Context, client ClientID, space SpaceID, id string, newID string, now time.Time) (WebhookDelivery, error) {
	start := time.Now()
	r0, err := o.s.RedeliverWebhook(ctx, client, space, id, newID, now)
	o.obs("RedeliverWebhook", time.Since(start), err)
	return r0, err
}

func (o *observed) PruneWebhookDeliveries(ctx context.Context, before time.Time) (int, error) {
	start := time.Now()
	r0, err := o.s.PruneWebhookDeliveries(ctx, before)
	o.obs("PruneWebhookDeliveries", time.Since(start), err)
	return r0, err
}

func (o *observed) PendingWebhookDeliveries(ctx context.Context) (int, error) {
	start := time.Now()
	r0, err := o.s.PendingWebhookDeliveries(ctx)
	o.obs("PendingWebhookDeliveries", time.Since(start), err)
	return r0, err
}

func (o *observed) CreateWaiting(ctx context.Context, e WaitingEntry) error {
	start := time.Now()
	err := o.s.CreateWaiting(ctx, e)
	o.obs("CreateWaiting", time.Since(start), err)
	return err
}

func (o *observed) GetWaitingByTicket(ctx context.Context, ticketHash string) (WaitingEntry, error) {
	start := time.Now()
	r0, err := o.s.GetWaitingByTicket(ctx, ticketHash)
	o.obs("GetWaitingByTicket", time.Since(start), err)
	return r0, err
}

func (o *observed) GetWaiting(ctx context.Context, client ClientID, room RoomID, id string) (WaitingEntry, error) {
	start := time.Now()
	r0, err := o.s.GetWaiting(ctx, client, room, id)
	o.obs("GetWaiting", time.Since(start), err)
	return r0, err
}

func (o *observed) ListWaiting(ctx context.Context, client ClientID, room RoomID, now time.Time) ([]WaitingEntry, error) {
	start := time.Now()
	r0, err := o.s.ListWaiting(ctx, client, room, now)
	o.obs("ListWaiting", time.Since(start), err)
	return r0, err
}

func (o *observed) TouchWaiting(ctx context.Context, client ClientID, id string, now time.Time, expires time.Time) error {
	start := time.Now()
	err := o.s.TouchWaiting(ctx, client, id, now, expires)
	o.obs("TouchWaiting", time.Since(start), err)
	return err
}

func (o *observed) DecideWaiting(ctx context.Context, d WaitingDecision) ([]WaitingEntry, error) {
	start := time.Now()
	r0, err := o.s.DecideWaiting(ctx, d)
	o.obs("DecideWaiting", time.Since(start), err)
	return r0, err
}

func (o *observed) DeleteWaiting(ctx context.Context, client ClientID, id string) error {
	start := time.Now()
	err := o.s.DeleteWaiting(ctx, client, id)
	o.obs("DeleteWaiting", time.Since(start), err)
	return err
}

func (o *observed) FindRefusedWaiting(ctx context.Context, client ClientID, room RoomID, linkID string, user UserID, now time.Time) (WaitingEntry, error) {
	start := time.Now()
	r0, err := o.s.FindRefusedWaiting(ctx, client, room, linkID, user, now)
	o.obs("FindRefusedWaiting", time.Since(start), err)
	return r0, err
}

func (o *observed) PruneWaiting(ctx context.Context, now time.Time) (int, error) {
	start := time.Now()
	r0, err := o.s.PruneWaiting(ctx, now)
	o.obs("PruneWaiting", time.Since(start), err)
	return r0, err
}

func (o *observed) Ping(ctx context.Context) error {
	start := time.Now()
	err := o.s.Ping(ctx)
	o.obs("Ping", time.Since(start), err)
	return err
}

func (o *observed) Close() error {
	return o.s.Close()
}

func (o *observed) ApplyRecords(ctx context.Context, edge string, rs []RecordUpdate, now time.Time) error {
	start := time.Now()
	err := o.s.ApplyRecords(ctx, edge, rs, now)
	o.obs("ApplyRecords", time.Since(start), err)
	return err
}

func (o *observed) ListRecords(ctx context.Context, client ClientID, space SpaceID, room RoomID, f RecordFilter, p Page) ([]Record, int, error) {
	start := time.Now()
	r0, r1, err := o.s.ListRecords(ctx, client, space, room, f, p)
	o.obs("ListRecords", time.Since(start), err)
	return r0, r1, err
}

func (o *observed) GetRecord(ctx context.Context, client ClientID, space SpaceID, room RoomID, id RecordID) (Record, error) {
	start := time.Now()
	r0, err := o.s.GetRecord(ctx, client, space, room, id)
	o.obs("GetRecord", time.Since(start), err)
	return r0, err
}
