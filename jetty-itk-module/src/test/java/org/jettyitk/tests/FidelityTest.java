package org.jettyitk.tests;

import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.eclipse.jetty.client.AsyncRequestContent;
import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.CompletableResponseListener;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.InputStreamRequestContent;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpMethod;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jettyitk.tests.ItkTestServer.RawResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A tenant behind the front sees the request a directly connected Jetty would see, and the client gets the
 * response the tenant wrote: every case runs with the client speaking HTTP/1.1 and HTTP/2 (h2c) to the front.
 * Where Jetty itself decides (which encodings it accepts), the reference is a plain Jetty running the same
 * {@link TestApp} in this JVM.</p>
 */
public class FidelityTest
{
    private static final String HOST = "alice.test";
    private static final int TEN_MB = 10 * 1024 * 1024;
    private static final int FRONT_REQUEST_HEADER_SIZE = 512 * 1024;

    private static ItkTestServer front;
    private static Server plain;
    private static ServerConnector plainConnector;

    @BeforeAll
    public static void start() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: the worker runs as numeric uid 41001");
        front = new ItkTestServer();
        // Room for a request whose header list the front accepts and the worker does not.
        front.config.setRequestHeaderSize(FRONT_REQUEST_HEADER_SIZE);
        front.addTestApp("alice", ALICE);
        front.start();

        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("itk-test-plain");
        plain = new Server(threads);
        HttpConfiguration config = new HttpConfiguration();
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
        if (front != null)
            front.close();
    }

    private static HttpClient client(String protocol)
    {
        return switch (protocol)
        {
            case "HTTP/1.1" -> front.http1;
            case "HTTP/2.0" -> front.http2;
            default -> throw new IllegalArgumentException(protocol);
        };
    }

    private static Request request(String protocol, String pathQuery)
    {
        return front.request(client(protocol), HOST, pathQuery);
    }

    private static ContentResponse send(Request request) throws Exception
    {
        return ItkTestServer.send(request, 2 * TEN_MB);
    }

    private static Map<String, String> lines(ContentResponse response)
    {
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return ItkTestServer.lines(response.getContentAsString());
    }

    public static Stream<Arguments> methods()
    {
        List<Arguments> arguments = new ArrayList<>();
        for (String protocol : List.of("HTTP/1.1", "HTTP/2.0"))
        {
            for (String method : List.of("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"))
            {
                arguments.add(Arguments.of(protocol, method));
            }
        }
        return arguments.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("methods")
    public void testMethodReachesServlet(String protocol, String method) throws Exception
    {
        ContentResponse response = request(protocol, "/info").method(method).send();
        assertEquals(200, response.getStatus(), response::getContentAsString);
        assertEquals(method, response.getHeaders().get("X-Method"));
        if (!HttpMethod.HEAD.is(method))
            assertEquals(method, ItkTestServer.lines(response.getContentAsString()).get("method"));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testEncodedPathAndQueryArriveByteExact(String protocol) throws Exception
    {
        Map<String, String> info = lines(request(protocol, "/info/a%20b/%C3%A9?q=a%26b&x=%2B&x=2").send());
        assertEquals("/info/a%20b/%C3%A9", info.get("requestURI"));
        assertEquals("q=a%26b&x=%2B&x=2", info.get("queryString"));
        assertEquals("/info/a b/\u00e9", info.get("pathInfo"));
        assertEquals("a&b", info.get("parameter q"));
        assertEquals("+|2", info.get("parameter x"));
    }

    public static Stream<Arguments> targets()
    {
        List<Arguments> arguments = new ArrayList<>();
        for (String protocol : List.of("HTTP/1.1", "HTTP/2.0"))
        {
            for (String target : List.of(
                "/info/a%20b/%C3%A9?q=a%26b&x=%2B&x=2",
                "/info/%7euser/a+b/%e2%82%ac?a=%20&b&c=%e2%82%ac&a=",
                "/info/a;p=1/b;q=2?x=1",
                "/info/a%2Fb",
                "/info/a%25b",
                "/info/%2e%2e/x",
                "/info/a/../b?c=d",
                "/info/q?a=%E9"))
            {
                arguments.add(Arguments.of(protocol, target));
            }
        }
        return arguments.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("targets")
    public void testTargetServedAsPlainJettyServesIt(String protocol, String target) throws Exception
    {
        ContentResponse expected = client(protocol).newRequest("http://" + HOST + ":" + plainConnector.getLocalPort() + target)
            .timeout(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).send();
        ContentResponse actual = request(protocol, target).send();
        assertEquals(expected.getStatus(), actual.getStatus(), actual::getContentAsString);
        if (expected.getStatus() != 200)
            return;
        Map<String, String> expectedInfo = ItkTestServer.lines(expected.getContentAsString());
        Map<String, String> actualInfo = ItkTestServer.lines(actual.getContentAsString());
        for (String key : expectedInfo.keySet())
        {
            if (key.equals("requestURI") || key.equals("pathInfo") || key.equals("queryString") || key.startsWith("parameter "))
                assertEquals(expectedInfo.get(key), actualInfo.get(key), key);
        }
        assertEquals(expectedInfo.keySet().stream().filter(k -> k.startsWith("parameter ")).toList(),
            actualInfo.keySet().stream().filter(k -> k.startsWith("parameter ")).toList());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testMultiValuedRequestHeaderArrivesAsTwoValues(String protocol) throws Exception
    {
        Map<String, String> info = lines(request(protocol, "/info")
            .headers(h -> h.add("X-Multi", "one").add("X-Multi", "two"))
            .send());
        assertEquals("one|two", info.get("header x-multi"));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testMultiValuedResponseHeaderReachesClient(String protocol) throws Exception
    {
        ContentResponse response = request(protocol, "/headers").send();
        assertEquals(200, response.getStatus());
        assertEquals(List.of("one", "two"), response.getHeaders().getValuesList("X-Multi"));
        assertEquals(List.of("a=1", "b=2"), response.getHeaders().getValuesList(HttpHeader.SET_COOKIE));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testLargeRequestBody(String protocol) throws Exception
    {
        byte[] body = TestApp.generated(TEN_MB);
        ContentResponse response = send(request(protocol, "/echo").method(HttpMethod.POST).body(new BytesRequestContent(body)));
        assertEquals(200, response.getStatus());
        assertEquals(Integer.toString(TEN_MB), response.getHeaders().get("X-Length"));
        assertEquals(TestApp.sha256(body), response.getHeaders().get("X-Sha256"));
        assertEquals(TestApp.sha256(body), TestApp.sha256(response.getContent()));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testLargeRequestBodyWithoutLength(String protocol) throws Exception
    {
        // Unknown length: chunked over HTTP/1.1, DATA frames up to END_STREAM over HTTP/2.
        byte[] body = TestApp.generated(TEN_MB);
        ContentResponse response = send(request(protocol, "/echo").method(HttpMethod.POST).body(new InputStreamRequestContent(new ByteArrayInputStream(body))));
        assertEquals(200, response.getStatus());
        assertEquals(Integer.toString(TEN_MB), response.getHeaders().get("X-Length"));
        assertEquals(TestApp.sha256(body), response.getHeaders().get("X-Sha256"));
    }

    public static Stream<Arguments> largeResponses()
    {
        List<Arguments> arguments = new ArrayList<>();
        for (String protocol : List.of("HTTP/1.1", "HTTP/2.0"))
        {
            for (String variant : List.of("", "&length=1", "&flush=1", "&length=1&flush=1"))
            {
                arguments.add(Arguments.of(protocol, variant));
            }
        }
        return arguments.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("largeResponses")
    public void testLargeResponseBody(String protocol, String variant) throws Exception
    {
        ContentResponse response = send(request(protocol, "/bytes?n=" + TEN_MB + variant));
        assertEquals(200, response.getStatus());
        assertEquals(TEN_MB, response.getContent().length);
        assertEquals(TestApp.sha256(TestApp.generated(TEN_MB)), TestApp.sha256(response.getContent()));
        if (variant.contains("length"))
            assertEquals(TEN_MB, response.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH), "the Content-Length the tenant set");
    }

    @Test
    public void testChunkedResponseOverHttp1() throws Exception
    {
        int length = 100_000;
        RawResponse response = front.raw("""
            GET /bytes?n=%d&flush=1 HTTP/1.1\r
            Host: alice.test\r
            Connection: close\r
            \r
            """.formatted(length));
        assertEquals(200, response.status());
        assertEquals("chunked", response.headers().get(HttpHeader.TRANSFER_ENCODING));
        assertFalse(response.headers().contains(HttpHeader.CONTENT_LENGTH), response.headers()::toString);
        assertTrue(response.chunks() > 1, "chunks: " + response.chunks());
        assertArrayEquals(TestApp.generated(length), response.body());
    }

    @Test
    public void testContentLengthResponseOverHttp1() throws Exception
    {
        // The tenant set a length: a plain Jetty sends it, not chunks (clients show progress, HEAD reports the size).
        RawResponse response = front.raw("""
            GET /bytes?n=100&length=1 HTTP/1.1\r
            Host: alice.test\r
            Connection: close\r
            \r
            """);
        assertEquals(200, response.status());
        assertEquals("100", response.headers().get(HttpHeader.CONTENT_LENGTH), () -> "response headers:\n" + response.headers());
        assertFalse(response.headers().contains(HttpHeader.TRANSFER_ENCODING), () -> "response headers:\n" + response.headers());
        assertArrayEquals(TestApp.generated(100), response.body());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testNoContentStatus(String protocol) throws Exception
    {
        ContentResponse response = request(protocol, "/status?code=204").send();
        assertEquals(204, response.getStatus());
        assertEquals(0, response.getContent().length);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testNotModifiedStatus(String protocol) throws Exception
    {
        ContentResponse response = request(protocol, "/status?code=304").send();
        assertEquals(304, response.getStatus());
        assertEquals(0, response.getContent().length);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testNotFoundStatusWithBody(String protocol) throws Exception
    {
        ContentResponse response = request(protocol, "/status?code=404&body=nothing%20here").send();
        assertEquals(404, response.getStatus());
        assertEquals("nothing here", response.getContentAsString());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testServletFailureIsTenantsErrorPage(String protocol) throws Exception
    {
        // The tenant's own Jetty writes the 500 page, as a plain Jetty would; the front passes it on.
        ContentResponse response = request(protocol, "/error").send();
        assertEquals(500, response.getStatus());
        assertTrue(response.getContentAsString().contains("HTTP ERROR 500 java.lang.IllegalStateException: tenant failure"), response::getContentAsString);
    }

    @Test
    public void testBodylessStatusesKeepHttp1ConnectionInSync() throws Exception
    {
        // Three requests pipelined on one connection: a body where there must be none would shift the third.
        try (Socket socket = front.connect())
        {
            OutputStream out = socket.getOutputStream();
            out.write("""
                GET /status?code=204 HTTP/1.1\r
                Host: alice.test\r
                \r
                GET /status?code=304 HTTP/1.1\r
                Host: alice.test\r
                \r
                GET /info?third HTTP/1.1\r
                Host: alice.test\r
                Connection: close\r
                \r
                """.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = new BufferedInputStream(socket.getInputStream());
            RawResponse noContent = RawResponse.read(in, false);
            assertEquals(204, noContent.status());
            assertFalse(noContent.headers().contains(HttpHeader.TRANSFER_ENCODING), noContent.headers()::toString);
            assertEquals(304, RawResponse.read(in, false).status());
            RawResponse third = RawResponse.read(in, false);
            assertEquals(200, third.status());
            assertEquals("third", ItkTestServer.lines(third.content()).get("queryString"));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testResponseTrailersReachClient(String protocol) throws Exception
    {
        ContentResponse response = request(protocol, "/trailers").headers(h -> h.put(HttpHeader.TE, "trailers")).send();
        assertEquals(200, response.getStatus());
        assertEquals("with trailers\n", response.getContentAsString());
        assertEquals("c0ffee", response.getTrailers() == null ? null : response.getTrailers().get("x-checksum"), () -> "trailers: " + response.getTrailers());
    }

    @Test
    public void testResponseTrailersInHttp1Chunks() throws Exception
    {
        RawResponse response = front.raw("""
            GET /trailers HTTP/1.1\r
            Host: alice.test\r
            TE: trailers\r
            Connection: close\r
            \r
            """);
        assertEquals(200, response.status());
        assertEquals("chunked", response.headers().get(HttpHeader.TRANSFER_ENCODING));
        assertEquals("with trailers\n", response.content());
        assertEquals("c0ffee", response.trailers().get("x-checksum"), response.trailers()::toString);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testRequestTrailersReachServlet(String protocol) throws Exception
    {
        AsyncRequestContent content = new AsyncRequestContent();
        Request request = request(protocol, "/echo")
            .method(HttpMethod.POST)
            .body(content)
            .trailersSupplier(() -> HttpFields.build().put("X-Checksum", "abc123"));
        CompletableFuture<ContentResponse> future = new CompletableResponseListener(request).send();
        content.write(ByteBuffer.wrap("hello ".getBytes(StandardCharsets.US_ASCII)), Callback.NOOP);
        content.write(ByteBuffer.wrap("trailers".getBytes(StandardCharsets.US_ASCII)), Callback.NOOP);
        content.close();
        ContentResponse response = future.get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertEquals(200, response.getStatus());
        assertEquals("hello trailers", response.getContentAsString());
        assertEquals("abc123", response.getHeaders().get("X-Request-Trailer-X-Checksum"), response.getHeaders()::toString);
    }

    @Test
    public void testRequestTrailersInHttp1Chunks() throws Exception
    {
        RawResponse response = front.raw("""
            POST /echo HTTP/1.1\r
            Host: alice.test\r
            Transfer-Encoding: chunked\r
            Connection: close\r
            \r
            5\r
            hello\r
            0\r
            X-Checksum: abc123\r
            \r
            """);
        assertEquals(200, response.status());
        assertEquals("hello", response.content());
        assertEquals("abc123", response.headers().get("X-Request-Trailer-X-Checksum"), response.headers()::toString);
    }

    @Test
    public void testRequestTrailersCannotCarryPrivateOrForwardingFields() throws Exception
    {
        RawResponse response = front.raw("""
            POST /echo HTTP/1.1\r
            Host: alice.test\r
            Transfer-Encoding: chunked\r
            Connection: close\r
            \r
            5\r
            hello\r
            0\r
            Forwarded: for=203.0.113.9\r
            X-Forwarded-For: 203.0.113.9\r
            Itk-Connection: v=1;remote=203.0.113.9:4711;local=198.51.100.1:443;secure=true;protocol=HTTP/1.0\r
            itk-names: X-EVIL\r
            X-Checksum: abc123\r
            \r
            """);
        assertEquals(200, response.status());
        assertEquals("abc123", response.headers().get("X-Request-Trailer-X-Checksum"), response.headers()::toString);
        List<String> leaked = response.headers().stream().map(f -> f.getName().toLowerCase(Locale.ROOT))
            .filter(n -> n.startsWith("x-request-trailer-") && !n.equals("x-request-trailer-x-checksum")).toList();
        assertEquals(List.of(), leaked);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testExpectContinueDeliversBody(String protocol) throws Exception
    {
        byte[] body = TestApp.generated(100_000);
        ContentResponse response = request(protocol, "/echo")
            .method(HttpMethod.POST)
            .headers(h -> h.put(HttpHeader.EXPECT, "100-continue"))
            .body(new BytesRequestContent(body))
            .send();
        assertEquals(200, response.getStatus());
        assertEquals(TestApp.sha256(body), response.getHeaders().get("X-Sha256"));
    }

    @Test
    public void testExpectContinueInterimResponseBeforeBody() throws Exception
    {
        try (Socket socket = front.connect())
        {
            OutputStream out = socket.getOutputStream();
            out.write("""
                POST /echo HTTP/1.1\r
                Host: alice.test\r
                Expect: 100-continue\r
                Content-Length: 5\r
                Connection: close\r
                \r
                """.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = new BufferedInputStream(socket.getInputStream());
            // The client sends nothing more until told to continue: a front waiting for the body would hang here.
            assertEquals(100, RawResponse.read(in, false).status());
            out.write("hello".getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            RawResponse response = RawResponse.read(in, false);
            assertEquals(200, response.status());
            assertEquals("hello", response.content());
        }
    }

    @Test
    public void testExpectContinueUnreadBodyIsNeverAskedFor() throws Exception
    {
        try (Socket socket = front.connect())
        {
            OutputStream out = socket.getOutputStream();
            out.write("""
                POST /info HTTP/1.1\r
                Host: alice.test\r
                Expect: 100-continue\r
                Content-Length: 5\r
                \r
                """.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            // The servlet answers without reading: as from a plain Jetty, the final response comes without a 100
            // and without the body ever being sent.
            RawResponse response = RawResponse.read(new BufferedInputStream(socket.getInputStream()), false);
            assertEquals(200, response.status());
            assertEquals("POST", ItkTestServer.lines(response.content()).get("method"));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testConnectionFacts(String protocol) throws Exception
    {
        ContentResponse response = request(protocol, "/info").send();
        InetSocketAddress client = (InetSocketAddress)response.getRequest().getConnection().getLocalSocketAddress();
        Map<String, String> info = lines(response);
        assertEquals("127.0.0.1", info.get("remoteAddr"));
        assertEquals(Integer.toString(client.getPort()), info.get("remotePort"));
        assertEquals(Integer.toString(front.port()), info.get("localPort"));
        assertEquals(HOST, info.get("serverName"));
        assertEquals(Integer.toString(front.port()), info.get("serverPort"));
        assertEquals("http", info.get("scheme"));
        assertEquals("false", info.get("secure"));
        assertEquals(protocol, info.get("protocol"));
    }

    @Test
    public void testConnectionFactsOfRawHttp1Socket() throws Exception
    {
        try (Socket socket = front.connect())
        {
            socket.getOutputStream().write("""
                GET /info HTTP/1.1\r
                Host: alice.test:%d\r
                Connection: close\r
                \r
                """.formatted(front.port()).getBytes(StandardCharsets.ISO_8859_1));
            RawResponse response = RawResponse.read(new BufferedInputStream(socket.getInputStream()), false);
            Map<String, String> info = ItkTestServer.lines(response.content());
            assertEquals("127.0.0.1", info.get("remoteAddr"));
            assertEquals(Integer.toString(socket.getLocalPort()), info.get("remotePort"));
            assertEquals("HTTP/1.1", info.get("protocol"));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testClientCannotSpoofConnectionFacts(String protocol) throws Exception
    {
        ContentResponse response = request(protocol, "/info")
            .headers(h -> h
                .add("Forwarded", "for=203.0.113.9:4711;proto=https;host=evil.test;by=198.51.100.1")
                .add("X-Forwarded-For", "203.0.113.9")
                .add("X-Forwarded-Proto", "https")
                .add("X-Forwarded-Host", "evil.test")
                .add("X-Forwarded-Port", "443")
                .add("X-Forwarded-Server", "evil.test")
                .add("Itk-Connection", "v=1;remote=203.0.113.9:4711;local=198.51.100.1:443;secure=true;protocol=HTTP/1.0"))
            .send();
        InetSocketAddress client = (InetSocketAddress)response.getRequest().getConnection().getLocalSocketAddress();
        Map<String, String> info = lines(response);
        assertEquals("127.0.0.1", info.get("remoteAddr"));
        assertEquals(Integer.toString(client.getPort()), info.get("remotePort"));
        assertEquals(Integer.toString(front.port()), info.get("localPort"));
        assertEquals(HOST, info.get("serverName"));
        assertEquals(Integer.toString(front.port()), info.get("serverPort"));
        assertEquals("http", info.get("scheme"));
        assertEquals("false", info.get("secure"));
        assertEquals(protocol, info.get("protocol"));
        assertNull(info.get("header itk-connection"), info::toString);
    }

    private RawResponse rawToPlain(String request) throws IOException
    {
        try (Socket socket = new Socket("127.0.0.1", plainConnector.getLocalPort()))
        {
            socket.setSoTimeout(ItkTestServer.TIMEOUT_SECONDS * 1000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            return RawResponse.read(new BufferedInputStream(socket.getInputStream()), request.startsWith("HEAD "));
        }
    }

    private static List<String> names(HttpFields fields)
    {
        return fields.stream().map(HttpField::getName).filter(n -> n.toLowerCase(Locale.ROOT).startsWith("x-tenant")).toList();
    }

    @Test
    public void testHeaderNamesAndHostAsPlainJettyShowsThemToHttp1Clients() throws Exception
    {
        String request = """
            GET /names HTTP/1.1\r
            Host: Alice.Test\r
            user-agent: raw\r
            X-Tenant-Header: one\r
            x-MiXeD: two\r
            X-Repeated: a\r
            x-repeated: b\r
            Connection: close\r
            \r
            """;
        RawResponse expected = rawToPlain(request);
        RawResponse actual = front.raw(request);
        assertEquals(200, expected.status());
        assertEquals(200, actual.status(), actual::content);
        // Accepted difference: Connection is hop-by-hop, for the front's connection only (RFC 9110 section 7.6.1),
        // and HTTP/2 cannot carry it to the worker (RFC 9113 section 8.2.2).
        assertEquals(expected.content().replace("name Connection=close\n", ""), actual.content());
        assertTrue(actual.content().contains("Host=Alice.Test\n"), actual::content);
        assertEquals(List.of("X-Tenant-Header", "x-tenant-lower", "X-TENANT-SHOUT"), names(expected.headers()));
        assertEquals(names(expected.headers()), names(actual.headers()));
        assertEquals(expected.headers().getField(HttpHeader.CONTENT_TYPE).getName(), actual.headers().getField(HttpHeader.CONTENT_TYPE).getName());
    }

    @Test
    public void testHeadersNamedInConnectionAreNotForwarded() throws Exception
    {
        RawResponse response = front.raw("""
            GET /info HTTP/1.1\r
            Host: alice.test\r
            Connection: keep-alive, X-Secret, x-other\r
            X-Secret: hop\r
            X-Other: hop\r
            X-Kept: end-to-end\r
            Connection: close\r
            \r
            """);
        Map<String, String> info = ItkTestServer.lines(response.content());
        assertEquals("end-to-end", info.get("header x-kept"), info::toString);
        assertNull(info.get("header x-secret"), info::toString);
        assertNull(info.get("header x-other"), info::toString);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testClientCannotSetPrivateFieldsOfTheFront(String protocol) throws Exception
    {
        Map<String, String> info = lines(request(protocol, "/names")
            .headers(h -> h.add("itk-host", "evil.test").add("Itk-Names", "X-EVIL")).send());
        assertFalse(info.containsKey("name itk-host"), info::toString);
        assertFalse(info.containsKey("name Itk-Names"), info::toString);
        assertFalse(info.containsKey("name itk-names"), info::toString);
        assertFalse(info.values().contains("evil.test"), info::toString);
    }

    @Test
    public void testRequestTheWorkerCannotTakeFailsAloneWith431() throws Exception
    {
        long pid = Long.parseLong(lines(request("HTTP/1.1", "/pid").send()).get("pid"));
        // Slow responses in flight on the same worker, from both kinds of client, which the refused request must
        // not touch.
        List<CompletableFuture<ContentResponse>> slow = new ArrayList<>();
        for (String protocol : List.of("HTTP/1.1", "HTTP/2.0"))
        {
            slow.add(new CompletableResponseListener(request(protocol, "/sleep?ms=1500"), 1024).send());
        }
        // 300 KiB of header fields: within the front's limit, over what the worker accepts. A raw socket: Jetty's
        // clients refuse to send that much.
        StringBuilder request = new StringBuilder("GET /info HTTP/1.1\r\nHost: alice.test\r\nConnection: close\r\n");
        String value = "v".repeat(1000);
        for (int i = 0; i < 300; i++)
        {
            request.append("X-Big-").append(i).append(": ").append(value).append("\r\n");
        }
        RawResponse response = front.raw(request.append("\r\n").toString());
        assertEquals(431, response.status(), response::content);
        for (CompletableFuture<ContentResponse> future : slow)
        {
            ContentResponse slowResponse = future.get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
            assertEquals(200, slowResponse.getStatus(), slowResponse::getContentAsString);
        }
        assertEquals(pid, Long.parseLong(lines(request("HTTP/1.1", "/pid").send()).get("pid")));
    }
}
