#!/bin/sh
# The jetty-itk benchmark: plain Jetty against jetty-itk, same servlet, same machine, one run.
# Builds what it needs, then runs org.jettyitk.bench.BenchRunner; options: bench/run.sh --help
# (--quick for ~1 s runs). Results: bench/results/ (summary.md, summary.tsv, summary.json, benchmarks.png).
set -e
BENCH="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$BENCH")"

for arg in "$@"; do
    case "$arg" in
        -h|--help) SKIP_CHECKS=1 ;;
    esac
done

if [ -z "$SKIP_CHECKS" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bench: must run as root: the jetty-itk front starts its workers as numeric uids 42001.. (run: sudo $0)" >&2
        exit 2
    fi
    missing=""
    command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
    command -v ab >/dev/null 2>&1 || missing="$missing ab"
    if [ -n "$missing" ]; then
        echo "bench: missing:$missing; install them with: apt-get update && apt-get install -y wrk apache2-utils" >&2
        exit 3
    fi
fi

echo "bench: building (mvn -B -q -DskipTests -pl bench -am package)"
(cd "$ROOT" && mvn -B -q -DskipTests -pl bench -am package)

# target/classpath.txt: the runtime dependencies, written by maven-dependency-plugin's build-classpath.
CP="$BENCH/target/classes:$(cat "$BENCH/target/classpath.txt")"
cd "$ROOT"
exec java -Djava.awt.headless=true -cp "$CP" org.jettyitk.bench.BenchRunner --results "$BENCH/results" "$@"
