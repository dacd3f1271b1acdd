# jetty-itk @project.version@: see the jetty-itk README, section "The Jetty module".

[description]
Puts the HTTP/2 client and HPACK jars that jetty-itk's front speaks to its workers with on the server's own
class path, not on an environment's: Jetty's PreEncodedHttpField looks its encoders up once, through the
class loader of the thread that first uses it, and where HPACK is not visible it cannot encode the
pre-encoded methods (HEAD, PUT, ...) and Content-Types of a request for a worker.
Unlike jetty-home's http2-client module, it downloads nothing: jetty-home ships these jars but the HTTP/2
client, which the jetty-itk overlay ships.

[tags]
itk

[files]
maven://org.eclipse.jetty.http2/jetty-http2-client/${jetty.version}/jar|lib/http2/jetty-http2-client-${jetty.version}.jar

[lib]
lib/jetty-alpn-client-${jetty.version}.jar
lib/http2/jetty-http2-common-${jetty.version}.jar
lib/http2/jetty-http2-hpack-${jetty.version}.jar
lib/http2/jetty-http2-client-${jetty.version}.jar
