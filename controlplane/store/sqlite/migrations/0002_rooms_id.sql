-- 0002: rooms by id alone, whatever their client (GetRoomByID: webhook delivery
-- knows a room only by the id the edges report).
CREATE INDEX rooms_id ON rooms (id);
