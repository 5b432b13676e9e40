#!/usr/bin/env bash
# Build the real control-plane components used by the suite from their
# published Go modules (pinned in components/{kube,etcd,multus}/go.{mod,sum}):
#
#   kube-apiserver, kube-controller-manager  k8s.io/kubernetes/cmd/...
#   etcd                                     go.etcd.io/etcd/server/v3
#   multus (thin CNI plugin)                 gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/multus
#
# into a cache directory outside the repo, keyed by the pinned versions:
#
#   ${MACVLAN_CONFORMANCE_CACHE:-$HOME/.cache/macvlan-conformance}/components/<key>/bin/
#
# Only missing binaries are built; when all are present this is a no-op.
# Progress goes to stderr; the LAST line on stdout is the bin directory.
#
# Environment:
#   MACVLAN_CONFORMANCE_CACHE        cache root (default ~/.cache/macvlan-conformance)
#   MACVLAN_CONFORMANCE_BUILD_JOBS   go build -p (default: number of CPUs)
#   GO                               go binary (default: `go` on PATH, else /usr/local/go/bin/go)
set -euo pipefail

# Bump when the build recipe below changes in a way that changes the output
# (flags, ldflags, binary list); it is part of the cache key.
RECIPE=1
BINARIES=(kube-apiserver kube-controller-manager etcd multus)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'components/build.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- Go toolchain ----------------------------------------------------------
GO="${GO:-}"
if [[ -z "$GO" ]]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go
  else die "no Go toolchain: put go (>= 1.26) on PATH or install it at /usr/local/go"
  fi
fi
# Never auto-download another toolchain; fail clearly instead.
export GOTOOLCHAIN=local
go_version="$("$GO" version)"          # e.g. "go version go1.26.8 linux/amd64"

# --- cache key -------------------------------------------------------------
# sha256 over the recipe number, the Go version/platform and every pinned
# go.mod/go.sum; first 16 hex digits.
key="$(
  {
    printf 'recipe=%s\n%s\n' "$RECIPE" "$go_version"
    for m in kube etcd multus; do
      for f in go.mod go.sum; do
        printf '== %s/%s\n' "$m" "$f"
        cat "$here/$m/$f"
      done
    done
  } | sha256sum | cut -c1-16
)"
cache_root="${MACVLAN_CONFORMANCE_CACHE:-${HOME:?HOME is unset; set MACVLAN_CONFORMANCE_CACHE}/.cache/macvlan-conformance}"
keydir="$cache_root/components/$key"
bindir="$keydir/bin"

all_present() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$bindir/$b" ]] || return 1; done
  [[ -s "$keydir/build-info.json" ]]
}

# Fast path: nothing to do.
if all_present; then
  log "up to date: $bindir"
  printf '%s\n' "$bindir"
  exit 0
fi

mkdir -p "$bindir" "$keydir/stats"
# Serialise concurrent runs for the same key.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$keydir/.lock"
  flock 9
  if all_present; then printf '%s\n' "$bindir"; exit 0; fi
fi

# --- build environment -----------------------------------------------------
jobs="${MACVLAN_CONFORMANCE_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
export CGO_ENABLED=0                  # static binaries, no C toolchain needed
export GOFLAGS="-trimpath -mod=readonly -buildvcs=false"   # go.sum is authoritative
export GOMAXPROCS="$jobs"
export GOWORK=off
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"

have_time=0
[[ -x /usr/bin/time ]] && /usr/bin/time -v true >/dev/null 2>&1 && have_time=1
((have_time)) || log "note: /usr/bin/time (GNU time) not found; peak memory will not be recorded"

modver() {  # modver <module dir> <module path>  -> effective version
  (cd "$here/$1" && "$GO" list -m -f '{{if .Replace}}{{.Replace.Version}}{{else}}{{.Version}}{{end}}' "$2")
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

# run_timed <name> <module dir> <cmd...>: runs cmd in the module dir, records
# wall seconds and peak RSS (largest single process, KiB) in stats/<name>.
run_timed() {
  local name="$1" dir="$2"; shift 2
  local t0 t1 rss=null tf="$keydir/stats/$name.time"
  t0="$(now)"
  if ((have_time)); then
    (cd "$here/$dir" && /usr/bin/time -v -o "$tf" "$@")
    rss="$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")"
  else
    (cd "$here/$dir" && "$@")
  fi
  t1="$(now)"
  printf '%s %s\n' "$(elapsed "$t0" "$t1")" "${rss:-null}" >"$keydir/stats/$name"
  log "$name: $(elapsed "$t0" "$t1")s, peak RSS ${rss:-?} KiB"
}

# --- versions (single source of truth: the go.mod files) -------------------
log "cache key $key ($go_version); building into $bindir"
for m in kube etcd multus; do
  run_timed "download-$m" "$m" "$GO" mod download
done

k8s_version="$(modver kube k8s.io/kubernetes)"
staging_version="$(modver kube k8s.io/apiserver)"
etcd_version="$(modver etcd go.etcd.io/etcd/server/v3)"
multus_version="$(modver multus gopkg.in/k8snetworkplumbingwg/multus-cni.v4)"
[[ "$staging_version" == "v0.${k8s_version#v1.}" ]] \
  || die "kube/go.mod: staging modules at $staging_version do not match k8s.io/kubernetes $k8s_version"

# Same -X flags as kubernetes' hack/lib/version.sh, so `--version` and the
# /version endpoint report the release instead of v0.0.0-master. buildDate is
# the module's publication time (reproducible); the git commit is not known
# from the module proxy and is left empty.
k8s_date="$(cd "$here/kube" && "$GO" list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
k8s_minor="${k8s_version#v1.}"; k8s_minor="${k8s_minor%%.*}"
k8s_ldflags="-s -w"
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  k8s_ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  k8s_ldflags+=" -X $pkg.gitTreeState=archive -X $pkg.gitCommit= -X $pkg.buildDate=$k8s_date"
done
multus_pkg=gopkg.in/k8snetworkplumbingwg/multus-cni.v4/pkg/multus
multus_date="$(cd "$here/multus" && "$GO" list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' gopkg.in/k8snetworkplumbingwg/multus-cni.v4)"
multus_ldflags="-s -w -X $multus_pkg.version=$multus_version -X $multus_pkg.releaseStatus=,released -X $multus_pkg.gitTreeState=archive -X $multus_pkg.date=$multus_date"
# etcd's version is a constant in go.etcd.io/etcd/api/v3/version; its GitSHA
# is unknown from the module proxy and keeps etcd's default text.
etcd_ldflags="-s -w"

# build <binary> <module dir> <ldflags> <package>: one binary at a time.
build() {
  local name="$1" dir="$2" ldflags="$3" pkg="$4"
  if [[ -x "$bindir/$name" ]]; then log "$name: present"; return; fi
  log "$name: go build $pkg"
  run_timed "$name" "$dir" "$GO" build -p "$jobs" -ldflags="$ldflags" -o "$bindir/.$name.tmp" "$pkg"
  mv -f "$bindir/.$name.tmp" "$bindir/$name"
}
build kube-apiserver          kube   "$k8s_ldflags"    k8s.io/kubernetes/cmd/kube-apiserver
build kube-controller-manager kube   "$k8s_ldflags"    k8s.io/kubernetes/cmd/kube-controller-manager
build etcd                    etcd   "$etcd_ldflags"   go.etcd.io/etcd/server/v3
build multus                  multus "$multus_ldflags" gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/multus

# --- build-info.json -------------------------------------------------------
stat_field() {  # stat_field <name> <1=seconds|2=rss>
  local f="$keydir/stats/$1"
  if [[ -s "$f" ]]; then awk -v i="$2" '{print $i}' "$f"; else echo null; fi
}
{
  printf '{\n'
  printf '  "key": "%s",\n' "$key"
  printf '  "go": "%s",\n' "$go_version"
  printf '  "recipe": %s,\n' "$RECIPE"
  printf '  "modules": {\n'
  printf '    "k8s.io/kubernetes": "%s",\n' "$k8s_version"
  printf '    "k8s.io/* staging": "%s",\n' "$staging_version"
  printf '    "go.etcd.io/etcd/server/v3": "%s",\n' "$etcd_version"
  printf '    "gopkg.in/k8snetworkplumbingwg/multus-cni.v4": "%s"\n' "$multus_version"
  printf '  },\n'
  printf '  "download_seconds": {"kube": %s, "etcd": %s, "multus": %s},\n' \
    "$(stat_field download-kube 1)" "$(stat_field download-etcd 1)" "$(stat_field download-multus 1)"
  printf '  "binaries": {\n'
  n=${#BINARIES[@]}; i=0
  for b in "${BINARIES[@]}"; do
    i=$((i + 1))
    printf '    "%s": {"build_seconds": %s, "peak_rss_kib": %s, "bytes": %s}%s\n' \
      "$b" "$(stat_field "$b" 1)" "$(stat_field "$b" 2)" "$(stat -c %s "$bindir/$b")" \
      "$([[ $i -lt $n ]] && echo , || true)"
  done
  printf '  },\n'
  printf '  "build_jobs": %s,\n' "$jobs"
  printf '  "built_at": "%s"\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  printf '}\n'
} >"$keydir/build-info.json.tmp"
mv -f "$keydir/build-info.json.tmp" "$keydir/build-info.json"

log "done: $bindir"
printf '%s\n' "$bindir"
