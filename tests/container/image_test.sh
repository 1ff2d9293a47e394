#!/usr/bin/env bash
# The image store and `insula container` (image_test.sh CASE): imports of
# docker-save archives and OCI layouts with whiteouts/opaque dirs, dedup,
# digest checks, and the container verbs on overlayfs.
source "$(dirname "$0")/lib.sh"
INSULA=$(dirname "$RUNC")/insula
[ -x "$INSULA" ] || skip "no insula binary next to $RUNC"
export INSULA_STATE_DIR=$T/store
ins() { "$INSULA" "$@"; }
ct_cleanup() {
  for d in "$T"/store/containers/*/; do [ -d "$d" ] && ins container rm -f "$(basename "$d")" >/dev/null 2>&1; done
  grep -o " $T[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
}
BG=()  # background services (registry, token service), stopped on exit
trap 'for p in "${BG[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; ct_cleanup; cleanup' EXIT
python3 "$(dirname "$0")/make_images.py" "$BUSYBOX" "$T/img" > "$T/gzdigest" || fail "make test images"

t_import() {
  expect_contains "$(ins image import "$T/img/docker.tar")" "test/img:1" "docker-save import"
  expect_contains "$(ins image import "$T/img/oci")" "test/oci:2" "OCI layout import"
  expect_contains "$(ins image ls)" "test/img:1" "image ls"
  # Layer 1 is shared by both images: stored once. Layer 2 differs (tar vs tar.gz).
  expect_eq "$(ls "$T/store/images/layers" | wc -l)" 3 "unpacked layers (deduplicated)"
  ins image import "$T/img/docker.tar" >/dev/null || fail "re-import"
  expect_eq "$(ls "$T/store/images/layers" | wc -l)" 3 "re-import adds no layer"
  expect_contains "$(ins image inspect test/img:1)" '"WorkingDir": "/data"' "inspect"
  # Whiteout and opaque directory in the unpacked top layer.
  local top; top=$T/store/images/layers/$(cat "$T/gzdigest")
  [ -c "$top/data/a" ] || fail "whiteout for data/a is not a character device"
  expect_eq "$(getfattr --only-values -n trusted.overlay.opaque "$top/dir" 2>/dev/null || python3 -c "import os;print(os.getxattr('$top/dir','trusted.overlay.opaque').decode())")" y "opaque dir"
  ins image rm test/oci:2 || fail "image rm"
  [ -d "$top" ] && fail "unused layer kept after image rm"
  expect_eq "$(ls "$T/store/images/layers" | wc -l)" 2 "shared layer kept"
  return 0
}

t_digest_check() {
  cp -a "$T/img/oci" "$T/bad"
  local gz; gz=$(cat "$T/gzdigest")
  printf 'garbage' >> "$T/bad/blobs/sha256/$gz"
  local out; out=$(ins image import "$T/bad" 2>&1) && fail "corrupt blob accepted"
  expect_contains "$out" "digest" "digest mismatch message"
  tar -C "$T/img" -cf "$T/evil.tar" --transform 's|^|../|' oci/index.json 2>/dev/null
  out=$(ins image import "$T/evil.tar" 2>&1) && fail "archive with .. accepted"
  return 0
}

t_run() {
  ins image import "$T/img/docker.tar" >/dev/null || fail import
  expect_eq "$(ins container run --rm test/img:1)" "hello from layer 2" "image Cmd"
  ins container run --rm test/img:1 sh -c 'exit 3'; expect_eq $? 3 "exit status"
  expect_eq "$(ins container run --rm test/img:1 sh -c 'echo $(pwd) $GREETING; ls /data; ls /dir')" "/data hi
b
new" "workdir, env, whiteout and opaque dir through overlayfs"
  ins container run --rm test/img:1 sh -c 'echo x > /etc/written' || fail "write"
  local lower; lower=$(ls -d "$T"/store/images/layers/*/etc | head -1)
  for l in "$T"/store/images/layers/*; do [ -e "$l/etc/written" ] && fail "write reached a shared layer"; done
  expect_contains "$(ins container run -t --rm test/img:1 tty </dev/null)" "/dev/pts/" "-t gives the process a terminal"
  local out; out=$(ins container run -t -d test/img:1 tty 2>&1) && fail "-t -d accepted"
  expect_contains "$out" "foreground" "-t -d message"
  expect_eq "$(ls "$T/store/containers" | wc -l)" 0 "--rm removed the container"
  return 0
}

t_lifecycle() {
  ins image import "$T/img/docker.tar" >/dev/null || fail import
  ins container run -d --name web test/img:1 sh -c 'echo started; sleep 100' >/dev/null || fail "run -d"
  expect_contains "$(ins container ps)" "running" "ps"
  expect_eq "$(ins container exec web cat /etc/hello)" "hello from layer 2" "exec"
  ins container exec web sh -c 'exit 4'; expect_eq $? 4 "exec exit status"
  ins container stop -t 1 web || fail stop
  expect_contains "$(ins container ps)" "exited" "ps after stop"
  expect_contains "$(ins container logs web)" "started" "logs"
  ins container rm web || fail rm
  ins container create --name c1 test/img:1 sh -c 'echo from-c1' >/dev/null || fail create
  expect_contains "$(ins container ps)" "created" "created"
  ins container start c1 || fail start
  sleep 0.5
  expect_contains "$(ins container logs c1)" "from-c1" "logs after start"
  ins container rm c1 || fail "rm c1"
  grep -q "$T/store/containers" /proc/mounts && fail "overlay mount left"
  return 0
}

# start_registry [AUTH_YAML]: Debian's docker-registry on a free loopback port
# (sets PORT), stopped on exit.
start_registry() {
  command -v docker-registry >/dev/null || skip "needs docker-registry"
  command -v skopeo >/dev/null || skip "needs skopeo"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat > "$T/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $T/registry
http:
  addr: 127.0.0.1:$PORT
${1:-}
YML
  docker-registry serve "$T/registry.yml" > "$T/registry.log" 2>&1 &
  BG+=($!)
  for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/")" != 000 ] && break; sleep 0.1; done
}

t_pull() {
  start_registry
  local port=$PORT
  skopeo copy --quiet --dest-tls-verify=false "oci:$T/img/oci:test/oci:2" "docker://127.0.0.1:$port/test/img:oci" || fail "skopeo push (oci)"
  skopeo copy --quiet --dest-tls-verify=false "docker-archive:$T/img/docker.tar" "docker://127.0.0.1:$port/test/img:docker" || fail "skopeo push (docker)"
  expect_contains "$(ins image pull 127.0.0.1:$port/test/img:oci)" "127.0.0.1:$port/test/img:oci" "pull"
  expect_eq "$(ins container run --rm 127.0.0.1:$port/test/img:oci sh -c 'cat /etc/hello; ls /data /dir')" "hello from layer 2
/data:
b

/dir:
new" "pulled image runs with whiteouts applied"
  ins image pull 127.0.0.1:$port/test/img:docker >/dev/null || fail "pull (docker archive pushed)"
  # By digest, and a digest that does not match the content.
  local digest; digest=$(skopeo inspect --tls-verify=false "docker://127.0.0.1:$port/test/img:oci" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
  ins image pull "127.0.0.1:$port/test/img@$digest" >/dev/null || fail "pull by digest"
  local out; out=$(ins image pull 127.0.0.1:$port/test/img:nosuchtag 2>&1) && fail "missing tag pulled"
  expect_contains "$out" "manifest unknown" "missing tag message"
  # Corrupt a layer inside the registry's storage: the pull must refuse it.
  local blob; blob=$(find "$T/registry" -path "*blobs/sha256/*/data" -size +100k | head -1)
  rm -rf "$T/store2"; printf 'x' >> "$blob"
  out=$(INSULA_STATE_DIR=$T/store2 ins image pull 127.0.0.1:$port/test/img:oci 2>&1) && fail "corrupt layer accepted"
  expect_contains "$out" "digest" "digest verification on pull"
  return 0
}

# A registry that asks for HTTP Basic authentication (htpasswd, bcrypt at the
# lowest cost: the registry checks it on every request).
t_pull_auth() {
  python3 -W ignore -c 'import crypt' 2>/dev/null || skip "needs python3 crypt (bcrypt)"
  python3 -W ignore -c "import crypt; print('alice:' + crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))" > "$T/htpasswd"
  start_registry "auth:
  htpasswd:
    realm: insula-test
    path: $T/htpasswd"
  local ref=127.0.0.1:$PORT/test/img:oci out
  skopeo copy --quiet --dest-tls-verify=false --dest-creds alice:s3cret "oci:$T/img/oci:test/oci:2" "docker://$ref" || fail "skopeo push"
  out=$(ins image pull "$ref" 2>&1) && fail "pulled without credentials"
  expect_contains "$out" "requires authentication" "no credentials message"
  out=$(ins image pull --creds alice:wrong "$ref" 2>&1) && fail "pulled with a wrong password"
  expect_contains "$out" "refused the credentials" "wrong credentials message"
  expect_contains "$(ins image pull --creds alice:s3cret "$ref")" "$ref" "pull with --creds"
  expect_eq "$(ins container run --rm "$ref" cat /etc/hello)" "hello from layer 2" "pulled image runs"
  rm -rf "$T/store3"
  INSULA_STATE_DIR=$T/store3 INSULA_REGISTRY_CREDS=alice:s3cret ins image pull "$ref" >/dev/null || fail "pull with INSULA_REGISTRY_CREDS"
  # The auth file podman/skopeo write (skopeo login), found through REGISTRY_AUTH_FILE.
  rm -rf "$T/store3"
  REGISTRY_AUTH_FILE=$T/auth.json skopeo login --tls-verify=false -u alice -p s3cret "127.0.0.1:$PORT" >/dev/null || fail "skopeo login"
  INSULA_STATE_DIR=$T/store3 REGISTRY_AUTH_FILE=$T/auth.json ins image pull "$ref" >/dev/null || fail "pull with the auth file"
  return 0
}

# A registry that wants Bearer tokens from a token service (the flow of public
# registries): its realm is tests/container/token_server.py, which signs
# tokens with a key whose certificate the registry trusts.
t_pull_token() {
  command -v openssl >/dev/null || skip "needs openssl"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/token.key" -out "$T/token.crt" -days 2 -subj /CN=insula-token \
    2>/dev/null || fail "make the token signing key"
  python3 "$(dirname "$0")/token_server.py" "$T/token.port" "$T/token.key" insula-issuer alice:s3cret &
  BG+=($!)
  for _ in $(seq 100); do [ -s "$T/token.port" ] && break; sleep 0.1; done
  [ -s "$T/token.port" ] || fail "token service did not start"
  start_registry "auth:
  token:
    realm: http://127.0.0.1:$(cat "$T/token.port")/token
    service: insula-registry
    issuer: insula-issuer
    rootcertbundle: $T/token.crt"
  local ref=127.0.0.1:$PORT/test/img:oci out
  skopeo copy --quiet --dest-tls-verify=false --dest-creds alice:s3cret "oci:$T/img/oci:test/oci:2" "docker://$ref" || fail "skopeo push"
  out=$(ins image pull "$ref" 2>&1) && fail "pulled without credentials"
  expect_contains "$out" "refused anonymous access" "no credentials message"
  out=$(ins image pull --creds alice:wrong "$ref" 2>&1) && fail "pulled with a wrong password"
  expect_contains "$out" "refused the credentials" "wrong credentials message"
  expect_contains "$(ins image pull --creds alice:s3cret "$ref")" "$ref" "pull with a token"
  expect_eq "$(ins container run --rm "$ref" cat /etc/hello)" "hello from layer 2" "pulled image runs"
  return 0
}

case=${1:?usage: image_test.sh CASE}
declare -F "t_$case" >/dev/null || fail "no such case $case"
"t_$case" || exit 1
echo "PASS: $case"
