package org.jettyitk.distribution;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

import org.eclipse.jetty.client.ContentResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>jetty-itk beside the distribution's other modules, in one base: {@code http}, {@code https} (with a
 * self-signed keystore made by {@code keytool}), {@code http2}, {@code http2c}, {@code compression-gzip},
 * {@code requestlog}, {@code qos} and {@code forwarded}. Each test checks what one of them does to a tenant's
 * requests. ({@code dos} is left out: jetty-home 12.1.5's own {@code etc/jetty-dos.xml} fails to start, with or
 * without jetty-itk.)</p>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public class CoexistenceIT
{
    private static final int ALICE = 43011;
    private static final String PASSWORD = "itk-test-secret";
    private static final String MODULES = "http,https,http2,http2c,compression-gzip,requestlog,qos,forwarded,itk";

    private JettyBase base;
    private Clients clients;
    private int httpPort;
    private int httpsPort;

    @BeforeAll
    public void start() throws Exception
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "the front must run as root to start workers as other users (run the build as root)");
        base = JettyBase.create("base-coexistence");
        clients = new Clients();
        httpPort = JettyBase.freePort();
        httpsPort = JettyBase.freePort();
        base.startJar(null, "--approve-all-licenses", "--add-modules=" + MODULES);
        keytool(base.dir.resolve("etc/keystore.p12"));
        Path war = base.tenant("alice", ALICE, JettyBase.itDirectory().resolve("whoami.war"));
        base.writeVhost("alice.xml", JettyBase.vhostXml("alice.itk.test", ALICE, base.dir.relativize(war)));

        base.start("jetty.http.host=127.0.0.1", "jetty.http.port=" + httpPort,
            "jetty.ssl.host=127.0.0.1", "jetty.ssl.port=" + httpsPort,
            "jetty.sslContext.keyStorePassword=" + PASSWORD,
            "jetty.server.dumpAfterStart=true");
    }

    /**
     * A self-signed certificate for the names the tests use, in the keystore the {@code ssl} module reads.
     */
    private static void keytool(Path keystore) throws Exception
    {
        Path keytool = Path.of(System.getProperty("java.home"), "bin", "keytool");
        Process process = new ProcessBuilder(keytool.toString(), "-genkeypair", "-alias", "jetty", "-keyalg", "EC", "-groupname", "secp256r1",
            "-validity", "2", "-dname", "CN=localhost", "-ext", "SAN=dns:localhost,dns:*.itk.test,ip:127.0.0.1",
            "-keystore", keystore.toString(), "-storetype", "PKCS12", "-storepass", PASSWORD, "-keypass", PASSWORD)
            .redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, process.waitFor(), output);
    }

    @AfterAll
    public void stop() throws Exception
    {
        try
        {
            if (base == null)
                return;
            List<ProcessHandle> workers = base.process().descendants().filter(ProcessHandle::isAlive).toList();
            base.stop();
            await().atMost(Duration.ofSeconds(30)).until(() -> workers.stream().noneMatch(ProcessHandle::isAlive));
        }
        finally
        {
            if (clients != null)
                clients.close();
            if (base != null)
                base.close();
        }
    }

    @Test
    public void testOtherModulesHandlersWrapItkHandler()
    {
        String log = base.logText();
        int qos = log.indexOf("QoSHandler@");
        int compression = log.indexOf("CompressionHandler@");
        int itk = log.indexOf("ItkHandler@", Math.max(qos, compression));
        int contexts = log.indexOf("ContextHandlerCollection@", itk);
        assertTrue(qos > 0 && compression > 0 && itk > 0 && contexts > itk, "Server -> QoS, compression -> ItkHandler -> contexts:\n" + log);
    }

    @Test
    public void testHttpsWithHttp2() throws Exception
    {
        ContentResponse response = clients.request(clients.http2, "https://alice.itk.test:" + httpsPort + "/").send();

        String body = response.getContentAsString();
        assertEquals(200, response.getStatus(), body);
        assertTrue(body.contains("vhost: alice.itk.test (https://alice.itk.test:" + httpsPort + ", secure=true, HTTP/2.0)"), body);
        assertTrue(body.contains("Uid:\t43011\t43011\t43011\t43011"), body);
    }

    @Test
    public void testHttpsWithHttp11() throws Exception
    {
        String body = clients.get("https://alice.itk.test:" + httpsPort + "/").getContentAsString();

        assertTrue(body.contains("(https://alice.itk.test:" + httpsPort + ", secure=true, HTTP/1.1)"), body);
    }

    @Test
    public void testClearTextHttp2() throws Exception
    {
        String body = clients.request(clients.http2, "http://alice.itk.test:" + httpPort + "/").send().getContentAsString();

        assertTrue(body.contains("(http://alice.itk.test:" + httpPort + ", secure=false, HTTP/2.0)"), body);
    }

    @Test
    public void testCompressionGzipCompressesTenantResponses() throws Exception
    {
        Clients.RawResponse response = Clients.raw(httpPort, """
            GET / HTTP/1.1\r
            Host: alice.itk.test\r
            Accept-Encoding: gzip\r
            Connection: close\r
            \r
            """);

        assertEquals(200, response.status());
        assertEquals("gzip", response.headers().get("content-encoding"), response.headers().toString());
        String body;
        try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(response.body())))
        {
            body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertTrue(body.contains("Uid:\t43011\t43011\t43011\t43011"), body);
    }

    @Test
    public void testRequestLogHasTenantRequests() throws Exception
    {
        clients.get("http://alice.itk.test:" + httpPort + "/?requestlog");

        await().atMost(JettyBase.TIMEOUT).until(() -> requestLog().contains("\"GET /?requestlog HTTP/1.1\" 200 "));
    }

    private String requestLog() throws Exception
    {
        StringBuilder text = new StringBuilder();
        try (Stream<Path> logs = Files.list(base.dir.resolve("logs")))
        {
            for (Path log : logs.filter(p -> p.toString().endsWith(".request.log")).toList())
            {
                text.append(Files.readString(log));
            }
        }
        return text.toString();
    }

    @Test
    public void testForwardedClientReachesTenant() throws Exception
    {
        String body = clients.request(clients.http1, "http://alice.itk.test:" + httpPort + "/?forwarded")
            .headers(headers -> headers.put("X-Forwarded-For", "203.0.113.9"))
            .send().getContentAsString();

        // The front trusts its proxy (module forwarded): the request log and the tenant see the proxy's client.
        await().atMost(JettyBase.TIMEOUT).until(() -> requestLog().contains("203.0.113.9 - - "));
        // ForwardedRequestCustomizer gives an unresolved InetSocketAddress: the front must pass its numeric host on.
        assertTrue(body.contains("client: 203.0.113.9:"), "the tenant must see the forwarded client:\n" + body);
    }

    @Test
    public void testHostsNoVhostNamesGetTheServersDefault404() throws Exception
    {
        assertEquals(404, clients.get("http://127.0.0.1:" + httpPort + "/").getStatus());
    }
}
