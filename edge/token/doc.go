// Package token verifies LiveKit access tokens against the cluster's API keys
// (any listed key verifies, so keys rotate without downtime) and answers the
// grant questions the edge asks: may this participant join this room, publish
// this source, publish data, administer the room.
package token
