package org.jettyitk.tests;

import java.io.BufferedInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.ForwardedRequestCustomizer;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jettyitk.internal.pipe.ConnectionFacts;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>What a tenant sees of {@code Forwarded} and {@code X-Forwarded-*}. Without Jetty's {@code forwarded} module
 * (its {@code ForwardedRequestCustomizer}) the front ignores them: the tenant sees the connection. With it, the
 * admin trusts the proxy in front of the front, and the tenant sees what the customizer resolved, as on a plain
 * Jetty with the same customizer (the oracle here): address, port, scheme, security and host, the host being
 * the one the front routes by. Only a client address that is no IP literal differs: the tenant sees
 * {@code 0.0.0.0}, never a name nor {@code 127.0.0.1}.</p>
 */
public class ForwardedTest
{
    private static final String HOST = "alice.test";
    private static final List<String> FACTS = List.of("remoteAddr", "remotePort", "serverName", "serverPort", "scheme", "secure");

    private static ItkTestServer forwarded;
    private static ItkTestServer direct;
    private static Server plain;
    private static ServerConnector plainConnector;

    @BeforeAll
    public static void start() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: workers run as numeric uids 41001, 41002");
        forwarded = new ItkTestServer();
        forwarded.config.addCustomizer(new ForwardedRequestCustomizer());
        forwarded.addTestApp("alice", ALICE);
        forwarded.addTestApp("bob", BOB);
        forwarded.start();
        direct = new ItkTestServer();
        direct.addTestApp("alice", ALICE);
        direct.start();

        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("itk-test-plain");
        plain = new Server(threads);
        HttpConfiguration config = new HttpConfiguration();
        config.addCustomizer(new ForwardedRequestCustomizer());
        plainConnector = new ServerConnector(plain, 1, 1, new HttpConnectionFactory(config), new HTTP2CServerConnectionFactory(config));
        plainConnector.setHost("127.0.0.1");
        plain.addConnector(plainConnector);
        plain.setHandler(new TestApp());
        plain.start();
    }

    @AfterAll
    public static void stop() throws Exception
    {
        LifeCycle.stop(plain);
        if (forwarded != null)
            forwarded.close();
        if (direct != null)
            direct.close();
    }

    private static HttpClient client(ItkTestServer front, String protocol)
    {
        return protocol.equals("HTTP/2.0") ? front.http2 : front.http1;
    }

    private static Map<String, String> info(ItkTestServer front, String protocol, HttpFields headers) throws Exception
    {
        return lines(front.request(client(front, protocol), HOST, "/info").headers(h -> h.add(headers)).send());
    }

    private static Map<String, String> plainInfo(String protocol, HttpFields headers) throws Exception
    {
        ContentResponse response = client(forwarded, protocol).newRequest("http://" + HOST + ":" + plainConnector.getLocalPort() + "/info")
            .headers(h -> h.add(headers))
            .timeout(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS)
            .send();
        return lines(response);
    }

    private static Map<String, String> lines(ContentResponse response)
    {
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return ItkTestServer.lines(response.getContentAsString());
    }

    private static void assertSameFacts(Map<String, String> expected, Map<String, String> actual, List<String> keys)
    {
        for (String key : keys)
        {
            assertEquals(expected.get(key), actual.get(key), () -> key + ": plain Jetty " + expected + "\njetty-itk " + actual);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testTenantSeesWhatTheCustomizerResolvedFromForwarded(String protocol) throws Exception
    {
        HttpFields headers = HttpFields.build().add("Forwarded", "for=\"203.0.113.9:4711\";proto=https;host=" + HOST + ":8443");

        Map<String, String> info = info(forwarded, protocol, headers);

        assertSameFacts(plainInfo(protocol, headers), info, FACTS);
        assertEquals("203.0.113.9", info.get("remoteAddr"));
        assertEquals("4711", info.get("remotePort"));
        assertEquals("https", info.get("scheme"));
        assertEquals("true", info.get("secure"));
        assertEquals("8443", info.get("serverPort"));
        // The front resolved them: the worker gets the facts, not the headers.
        assertNull(info.get("header forwarded"), info::toString);
        assertNull(info.get("header itk-connection"), info::toString);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testTenantSeesWhatTheCustomizerResolvedFromXForwarded(String protocol) throws Exception
    {
        HttpFields headers = HttpFields.build()
            .add("X-Forwarded-For", "203.0.113.9, 198.51.100.1")
            .add("X-Forwarded-Proto", "https")
            .add("X-Forwarded-Host", HOST)
            .add("X-Forwarded-Port", "8443");

        Map<String, String> info = info(forwarded, protocol, headers);

        // Without a port in X-Forwarded-For, both keep their own connection's: each client's is another.
        assertSameFacts(plainInfo(protocol, headers), info, List.of("remoteAddr", "serverName", "serverPort", "scheme", "secure"));
        assertEquals("203.0.113.9", info.get("remoteAddr"));
        assertEquals("true", info.get("secure"));
        assertNull(info.get("header x-forwarded-for"), info::toString);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testTenantSeesForwardedIpv6Address(String protocol) throws Exception
    {
        HttpFields headers = HttpFields.build().add("Forwarded", "for=\"[2001:db8::9]:4711\"");

        Map<String, String> info = info(forwarded, protocol, headers);
        Map<String, String> plainInfo = plainInfo(protocol, headers);

        // The same address; plain Jetty prints the proxy's text, the worker the address in full.
        assertEquals(address(plainInfo.get("remoteAddr")), address(info.get("remoteAddr")), info::toString);
        assertEquals(ConnectionFacts.parseLiteral("2001:db8::9"), address(info.get("remoteAddr")));
        assertEquals("4711", info.get("remotePort"));
    }

    /**
     * The front formats the facts once per client connection, while they stay the same: a proxy's connection
     * carries requests of many clients, and each request's tenant sees its own.
     */
    @Test
    public void testEachRequestOfOneProxyConnectionHasItsOwnClient() throws Exception
    {
        try (Socket socket = forwarded.connect())
        {
            OutputStream out = socket.getOutputStream();
            InputStream in = new BufferedInputStream(socket.getInputStream());
            for (String client : List.of("203.0.113.9", "203.0.113.10", "203.0.113.10", "198.51.100.7"))
            {
                out.write(("GET /info HTTP/1.1\r\nHost: " + HOST + "\r\nX-Forwarded-For: " + client + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
                out.flush();
                ItkTestServer.RawResponse response = ItkTestServer.RawResponse.read(in, false);
                assertEquals(200, response.status(), response::content);
                assertEquals(client, ItkTestServer.lines(response.content()).get("remoteAddr"), response::content);
            }
        }
    }

    private static InetAddress address(String remoteAddr)
    {
        return ConnectionFacts.parseLiteral(remoteAddr.replace("[", "").replace("]", ""));
    }

    /**
     * A proxy may say a name, {@code unknown}, or a number that InetAddress reads as 127.0.0.1: plain Jetty shows
     * the text; the tenant sees 0.0.0.0, never loopback, which apps trust.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"proxy-client.example", "2130706433", "127.1", "cafe"})
    public void testForwardedNameReachesTenantAsUnknownNeverLoopback(String client) throws Exception
    {
        HttpFields headers = HttpFields.build().add("X-Forwarded-For", client);

        Map<String, String> info = info(forwarded, "HTTP/1.1", headers);

        assertEquals(client, plainInfo("HTTP/1.1", headers).get("remoteAddr"));
        assertEquals("0.0.0.0", info.get("remoteAddr"), info::toString);
        assertEquals("0", info.get("remotePort"), info::toString);
    }

    /**
     * The host the front routes by is the host the tenant sees, so with the customizer the forwarded host chooses
     * the vhost, as it chooses the context on a plain Jetty: only a trusted proxy may reach such a front.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testForwardedHostChoosesTheVirtualHost(String protocol) throws Exception
    {
        HttpFields headers = HttpFields.build().add("X-Forwarded-Host", "bob.test");

        ContentResponse whoami = forwarded.request(client(forwarded, protocol), HOST, "/whoami").headers(h -> h.add(headers)).send();

        assertEquals(200, whoami.getStatus(), whoami::getContentAsString);
        assertTrue(whoami.getContentAsString().contains("Uid:\t" + BOB + "\t"), whoami::getContentAsString);
        assertEquals("bob.test", info(forwarded, protocol, headers).get("serverName"));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testWithoutTheCustomizerTheTenantSeesTheConnection(String protocol) throws Exception
    {
        HttpFields headers = HttpFields.build()
            .add("Forwarded", "for=\"203.0.113.9:4711\";proto=https;host=bob.test:8443")
            .add("X-Forwarded-For", "203.0.113.9")
            .add("X-Forwarded-Proto", "https")
            .add("X-Forwarded-Host", "bob.test");

        ContentResponse response = direct.request(client(direct, protocol), HOST, "/info").headers(h -> h.add(headers)).send();
        Map<String, String> info = lines(response);

        assertEquals("127.0.0.1", info.get("remoteAddr"));
        InetSocketAddress client = (InetSocketAddress)response.getRequest().getConnection().getLocalSocketAddress();
        assertEquals(Integer.toString(client.getPort()), info.get("remotePort"));
        assertEquals("http", info.get("scheme"));
        assertEquals("false", info.get("secure"));
        assertEquals(HOST, info.get("serverName"));
        assertEquals(Integer.toString(direct.port()), info.get("serverPort"));
        assertNull(info.get("header forwarded"), info::toString);
        assertNull(info.get("header x-forwarded-host"), info::toString);
    }
}
