#!/usr/bin/env bash
# wrk beside the harness: the authenticated GET of a room and the bare handler.
set -euo pipefail
SC=${SC:-spacecast}
DATA=$(mktemp -d)
$SC bench api --serve --data "$DATA" > "$DATA/info.json" & CP=$!
$SC bench api --serve-baseline 127.0.0.1:0 > "$DATA/bare.url" & BARE=$!
trap 'kill $CP $BARE; wait; rm -rf "$DATA"' EXIT
until [ -s "$DATA/info.json" ] && [ -s "$DATA/bare.url" ]; do sleep 0.1; done
API=$(jq -r .url "$DATA/info.json"); CID=$(jq -r .clientId "$DATA/info.json"); SECRET=$(jq -r .clientSecret "$DATA/info.json")
j() { curl -sf "$@" -H 'content-type: application/json'; }
CT=$(j $API/v1/auth/token -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$CID\",\"client_secret\":\"$SECRET\"}" | jq -r .access_token)
j $API/v1/users -H "authorization: Bearer $CT" -d '{"email":"wrk@bench.invalid","password":"wrk-bench-password","username":"wrk"}' >/dev/null
UT=$(j $API/v1/auth/token -d "{\"grant_type\":\"password\",\"client_id\":\"$CID\",\"client_secret\":\"$SECRET\",\"username\":\"wrk@bench.invalid\",\"password\":\"wrk-bench-password\"}" | jq -r .access_token)
S=$(j $API/v1/spaces -H "authorization: Bearer $UT" -d '{"name":"wrk","isPublic":false}' | jq -r .id)
R=$(j $API/v1/spaces/$S/rooms -H "authorization: Bearer $UT" -d '{"name":"wrk","isPublic":false,"type":"lesson"}' | jq -r .id)
echo "== wrk: bare fasthttp handler"
wrk -t2 -c32 -d${DUR:-10s} "$(cat "$DATA/bare.url")/"
echo "== wrk: authenticated GET of a room"
wrk -t2 -c32 -d${DUR:-10s} -H "Authorization: Bearer $UT" "$API/v1/spaces/$S/rooms/$R"
