#!/bin/sh
# Builds jetty-itk and runs the demo: alice.localhost and bob.localhost on 127.0.0.1:8080, as uids 41001 and 41002.
set -e
cd "$(dirname "$0")"
mvn -B -q -DskipTests package
exec java -cp "examples/demo/target/classes:$(cat examples/demo/target/classpath.txt)" \
    org.jettyitk.examples.demo.Demo --war examples/whoami/target/whoami.war "$@"
