#!/usr/bin/env python3
"""A registry token service (the distribution spec's token flow) for the pull
tests: GET /token?service=S&scope=repository:NAME:ACTIONS with HTTP Basic
USER:PASSWORD answers {"token": JWT} granting the requested actions, signed
RS256 with KEY (openssl) and identified by the libtrust key id of its public
key, which Debian's docker-registry checks against its rootcertbundle. Wrong
or missing credentials get 401.
Usage: token_server.py PORT_FILE KEY.pem ISSUER USER:PASSWORD"""
import base64, hashlib, http.server, json, os, subprocess, sys, time, urllib.parse

port_file, key, issuer, creds = sys.argv[1:5]


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def libtrust_kid(key_file):
    der = subprocess.run(["openssl", "pkey", "-in", key_file, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


KID = libtrust_kid(key)


def token(service, scopes, user):
    header = {"typ": "JWT", "alg": "RS256", "kid": KID}
    now = int(time.time())
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) == 3:
            access.append({"type": parts[0], "name": parts[1], "actions": parts[2].split(",")})
    claims = {"iss": issuer, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
              "jti": b64url(os.urandom(12)), "access": access}
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input,
                         check=True, capture_output=True).stdout
    return signing_input.decode() + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        given = base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") else ""
        if url.path != "/token" or given != creds:
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"token": token(q.get("service", [""])[0], q.get("scope", []), given.split(":")[0])}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
