package org.jettyitk.tests;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.http.HttpScheme;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.api.exceptions.UpgradeException;
import org.eclipse.jetty.websocket.client.ClientUpgradeRequest;
import org.eclipse.jetty.websocket.client.WebSocketClient;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.front.ItkStatus;
import org.jettyitk.internal.front.Worker;
import org.jettyitk.internal.front.WorkerPool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.awaitility.Awaitility.await;
import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.BOB;
import static org.jettyitk.tests.ItkTestServer.CAROL;
import static org.jettyitk.tests.ItkTestServer.TIMEOUT_SECONDS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>WebSockets through the front, with Jetty's WebSocket client speaking HTTP/1.1 (Upgrade) or HTTP/2
 * (RFC 8441 extended CONNECT) to the front, to the Jakarta and Jetty endpoints of {@link WebSocketTestApp} in a
 * worker. Where the tenant's Jetty decides (subprotocol, extensions), the reference is a plain Jetty running the
 * same app in this JVM.</p>
 */
public class WebSocketTest
{
    private static final String ALICE_HOST = "alice.test";
    /** A vhost with at most {@link #MAX_WEBSOCKETS} WebSockets and a short WebSocket idle timeout. */
    private static final String BOB_HOST = "bob.test";
    /** A vhost whose workers are recycled after {@link #CAROL_REQUESTS_PER_WORKER} requests. */
    private static final String CAROL_HOST = "carol.test";
    private static final int MAX_WEBSOCKETS = 2;
    private static final long BOB_IDLE_MILLIS = 1500;
    private static final int CAROL_REQUESTS_PER_WORKER = 2;
    private static final int FOUR_MB = 4 * 1024 * 1024;
    private static final int FLOOD_MESSAGES = 16;
    private static final String STOP_MARKER = "stopped";

    private static ItkTestServer front;
    private static WebSocketClient http1;
    private static WebSocketClient http2;
    private static Server plain;
    private static ServerConnector plainConnector;
    private static WebSocketClient plainClient;
    private static WebSocketClient plainClient2;

    @BeforeAll
    public static void start() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: the workers run as numeric uids 41001..41003");
        front = new ItkTestServer();
        addApp("alice", ALICE);
        VirtualHost bob = addApp("bob", BOB);
        bob.setMaxWebSockets(MAX_WEBSOCKETS);
        bob.setWebSocketIdleTimeoutMillis(BOB_IDLE_MILLIS);
        VirtualHost carol = addApp("carol", CAROL);
        carol.setMaxRequestsPerWorker(CAROL_REQUESTS_PER_WORKER);
        carol.addEnvironment(WebSocketTestApp.STOP_MARKER, STOP_MARKER);
        front.itk.setWorkDirectory(front.root.resolve("work"));
        front.start();
        http1 = newClient(front.http1);
        http2 = newClient(newHttp2Client());

        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("itk-test-plain");
        plain = new Server(threads);
        HttpConfiguration config = new HttpConfiguration();
        plainConnector = new ServerConnector(plain, 1, 1, new HttpConnectionFactory(config), new HTTP2CServerConnectionFactory(config));
        plainConnector.setHost("127.0.0.1");
        plain.addConnector(plainConnector);
        plain.setHandler(new WebSocketTestApp());
        plain.start();
        plainClient = newClient(new HttpClient());
        plainClient2 = newClient(new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client())));
    }

    private static VirtualHost addApp(String name, int id) throws Exception
    {
        VirtualHost vhost = front.addTestApp(name, id);
        vhost.setHandlerClass(WebSocketTestApp.class.getName());
        return vhost;
    }

    /**
     * <p>An HTTP/2 client that leaves the stream of an accepted WebSocket to the WebSocket. Jetty 12.1.14's HTTP/2
     * transport hands that stream to the WebSocket when the 200 to the extended CONNECT arrives, and then still
     * reads the response's content from it ({@code HttpReceiverOverHTTP2.read}, driven by the default content
     * listener, which discards what it reads): DATA frames that arrive before that read are lost to the WebSocket.
     * A server that answers fast enough, a plain Jetty as well as the front, makes the client miss a message, see
     * {@code CONTINUATION after fin==true} when the first fragment of one was lost, or end with 1006 when its
     * close was. Here an accepted WebSocket's response has a content listener that reads nothing; a refused
     * one's content is read as usual.</p>
     */
    static HttpClient newHttp2Client()
    {
        HttpClient client = new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client()))
        {
            @Override
            public Request newRequest(URI uri)
            {
                Request request = super.newRequest(uri);
                if (HttpScheme.WS.is(uri.getScheme()) || HttpScheme.WSS.is(uri.getScheme()))
                {
                    request.onResponseContentSource((response, content) ->
                    {
                        if (!HttpStatus.isSuccess(response.getStatus()))
                            Content.Source.consumeAll(content, org.eclipse.jetty.util.Callback.NOOP);
                    });
                }
                return request;
            }
        };
        // As ItkTestServer's clients: every host name is this machine, and the URI's host is the :authority.
        client.setSocketAddressResolver((host, port, context, promise) -> promise.succeeded(List.of(new InetSocketAddress("127.0.0.1", port))));
        return client;
    }

    private static WebSocketClient newClient(HttpClient httpClient) throws Exception
    {
        WebSocketClient client = new WebSocketClient(httpClient);
        client.setMaxBinaryMessageSize(2 * FOUR_MB);
        client.setMaxTextMessageSize(2 * FOUR_MB);
        client.start();
        return client;
    }

    @AfterAll
    public static void stop() throws Exception
    {
        LifeCycle.stop(http1);
        LifeCycle.stop(http2);
        LifeCycle.stop(plainClient);
        LifeCycle.stop(plainClient2);
        LifeCycle.stop(plain);
        if (front != null)
            front.close();
    }

    @AfterEach
    public void checkNoWebSocketLeft()
    {
        // Every test closes its WebSockets: the front's counts come back to zero.
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> front.itk.getWorkerPools().stream().mapToInt(WorkerPool::getWebSockets).sum() == 0);
    }

    private static WebSocketClient client(String protocol)
    {
        return switch (protocol)
        {
            case "HTTP/1.1" -> http1;
            case "HTTP/2.0" -> http2;
            default -> throw new IllegalArgumentException(protocol);
        };
    }

    private static URI uri(String host, String path)
    {
        return URI.create("ws://" + host + ":" + front.port() + path);
    }

    private static ClientSocket connect(WebSocketClient client, URI uri) throws Exception
    {
        return connect(client, uri, new ClientUpgradeRequest());
    }

    private static ClientSocket connect(WebSocketClient client, URI uri, ClientUpgradeRequest upgrade) throws Exception
    {
        ClientSocket socket = new ClientSocket();
        client.connect(socket, uri, upgrade).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        return socket;
    }

    private static String get(String host, String path) throws Exception
    {
        ContentResponse response = front.get(front.http1, host, path);
        assertEquals(200, response.getStatus(), response::getContentAsString);
        return response.getContentAsString();
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1 /jakarta/echo", "HTTP/1.1 /jetty/echo", "HTTP/2.0 /jakarta/echo", "HTTP/2.0 /jetty/echo"})
    public void testTextAndBinaryEcho(String protocolAndPath) throws Exception
    {
        String[] parts = protocolAndPath.split(" ");
        ClientSocket socket = connect(client(parts[0]), uri(ALICE_HOST, parts[1]));
        socket.session.sendText("hello über", Callback.NOOP);
        assertEquals("hello über", socket.next());
        byte[] bytes = {0, 1, 2, (byte)0xff, 13, 10};
        socket.session.sendBinary(ByteBuffer.wrap(bytes), Callback.NOOP);
        assertArrayEquals(bytes, (byte[])socket.next());
        socket.closeAndAwait();
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testFragmentedMessagesBothWays(String protocol) throws Exception
    {
        ClientSocket socket = connect(client(protocol), uri(ALICE_HOST, "/jakarta/echo"));
        socket.session.sendPartialText("frag", false, Callback.NOOP);
        socket.session.sendPartialText("men", false, Callback.NOOP);
        socket.session.sendPartialText("ted", true, Callback.NOOP);
        assertEquals("fragmented", socket.next());
        socket.closeAndAwait();

        socket = connect(client(protocol), uri(ALICE_HOST, "/jetty/echo"));
        socket.session.sendText("fragments one two three", Callback.NOOP);
        assertEquals("onetwothree", socket.next());
        socket.closeAndAwait();
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testLargeMessage(String protocol) throws Exception
    {
        byte[] bytes = new byte[FOUR_MB];
        new Random(42).nextBytes(bytes);
        ClientSocket socket = connect(client(protocol), uri(ALICE_HOST, "/jakarta/echo"));
        socket.session.sendBinary(ByteBuffer.wrap(bytes), Callback.NOOP);
        assertArrayEquals(bytes, (byte[])socket.next());
        socket.closeAndAwait();
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testPingPong(String protocol) throws Exception
    {
        ClientSocket socket = connect(client(protocol), uri(ALICE_HOST, "/jetty/echo"));
        socket.session.sendPing(ByteBuffer.wrap(new byte[]{7, 8, 9}), Callback.NOOP);
        assertArrayEquals(new byte[]{7, 8, 9}, socket.pongs.poll(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        socket.closeAndAwait();
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testClientCloseReachesTenant(String protocol) throws Exception
    {
        ClientSocket socket = connect(client(protocol), uri(ALICE_HOST, "/jakarta/echo"));
        socket.session.close(4001, "bye " + protocol, Callback.NOOP);
        // The tenant's endpoint answers the close with the same code.
        assertEquals("4001 bye " + protocol, socket.closed.get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> get(ALICE_HOST, "/last-close").equals("4001 bye " + protocol));
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1 /jakarta/echo", "HTTP/1.1 /jetty/echo", "HTTP/2.0 /jakarta/echo", "HTTP/2.0 /jetty/echo"})
    public void testTenantCloseReachesClient(String protocolAndPath) throws Exception
    {
        String[] parts = protocolAndPath.split(" ");
        ClientSocket socket = connect(client(parts[0]), uri(ALICE_HOST, parts[1]));
        socket.session.sendText("close 4002 done here", Callback.NOOP);
        assertEquals("4002 done here", socket.closed.get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testSubprotocolAndDeflateAsOnPlainJetty(String protocol) throws Exception
    {
        for (String path : List.of("/jakarta/echo", "/jetty/echo"))
        {
            String viaFront = negotiate(client(protocol), uri(ALICE_HOST, path));
            String direct = negotiate(plainClient, URI.create("ws://127.0.0.1:" + plainConnector.getLocalPort() + path));
            assertEquals(direct, viaFront, path);
            assertEquals("chat permessage-deflate subprotocol=chat extensions=permessage-deflate", viaFront, path);
        }
    }

    /**
     * @return the subprotocol and extensions the client got, then what the tenant's endpoint says it negotiated
     */
    private static String negotiate(WebSocketClient client, URI uri) throws Exception
    {
        ClientUpgradeRequest upgrade = new ClientUpgradeRequest();
        upgrade.setSubProtocols("chat");
        upgrade.addExtensions("permessage-deflate");
        ClientSocket socket = connect(client, uri, upgrade);
        String clientSide = socket.session.getUpgradeResponse().getAcceptedSubProtocol() + " " +
            String.join(",", socket.session.getUpgradeResponse().getExtensions().stream().map(e -> e.getName()).toList());
        socket.session.sendText("negotiated", Callback.NOOP);
        String tenantSide = (String)socket.next();
        // A compressible message crosses the front compressed and comes back whole.
        String text = "abc".repeat(10_000);
        socket.session.sendText(text, Callback.NOOP);
        assertEquals(text, socket.next());
        socket.closeAndAwait();
        return clientSide + " " + tenantSide;
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testWorkerKilledMidStream(String protocol) throws Exception
    {
        ClientSocket socket = connect(client(protocol), uri(ALICE_HOST, "/jetty/echo"));
        socket.session.sendText("before", Callback.NOOP);
        assertEquals("before", socket.next());
        Worker worker = pool(ALICE_HOST).getWorkers().get(0);
        ProcessHandle.of(worker.getPid()).orElseThrow().destroyForcibly();
        // The client sees its connection end without a close frame: 1006 (abnormal closure).
        String closed = socket.closed.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertTrue(closed.startsWith("1006 ") || closed.startsWith("1011 "), closed);
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !pool(ALICE_HOST).getWorkers().contains(worker));
        // The front is unharmed: a new worker serves the next WebSocket and the next request.
        ClientSocket next = connect(client(protocol), uri(ALICE_HOST, "/jetty/echo"));
        next.session.sendText("after", Callback.NOOP);
        assertEquals("after", next.next());
        assertNotEquals(worker.getPid(), pool(ALICE_HOST).getWorkers().get(0).getPid());
        assertEquals("hello", get(ALICE_HOST, "/hello"));
        next.closeAndAwait();
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testMaxWebSocketsPerVirtualHost(String protocol) throws Exception
    {
        ClientSocket first = connect(client(protocol), uri(BOB_HOST, "/jetty/echo"));
        ClientSocket second = connect(client(protocol), uri(BOB_HOST, "/jakarta/echo"));
        String status = ItkStatus.toJson(front.itk);
        assertTrue(status.contains("\"name\":\"bob\"") && status.contains("\"webSockets\":2,\"maxWebSockets\":2"), status);
        assertTrue(front.itk.dump().contains("FrontTunnel"), "dump shows the tunnels");
        ExecutionException refused = assertThrows(ExecutionException.class, () -> connect(client(protocol), uri(BOB_HOST, "/jetty/echo")));
        UpgradeException upgrade = assertInstanceOf(UpgradeException.class, refused.getCause(), () -> refused.getCause().toString());
        assertEquals(503, upgrade.getResponseStatusCode());
        // Plain requests are not WebSockets: they still pass.
        assertEquals("hello", get(BOB_HOST, "/hello"));
        first.closeAndAwait();
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> pool(BOB_HOST).getWebSockets() == 1);
        ClientSocket third = connect(client(protocol), uri(BOB_HOST, "/jetty/echo"));
        third.session.sendText("third", Callback.NOOP);
        assertEquals("third", third.next());
        second.closeAndAwait();
        third.closeAndAwait();
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testIdleWebSocketClosedByFront(String protocol) throws Exception
    {
        ClientSocket socket = connect(client(protocol), uri(BOB_HOST, "/jetty/echo"));
        socket.session.sendText("then nothing", Callback.NOOP);
        assertEquals("then nothing", socket.next());
        // Nothing either way for the vhost's WebSocket idle timeout: the front ends the tunnel.
        String closed = socket.closed.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertTrue(closed.startsWith("1006 "), closed);
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testBusyWebSocketDoesNotStallRequests(String protocol) throws Exception
    {
        // A client that does not read, and a tenant that sends it 16 MiB, far more than the windows and buffers
        // on the way: the tunnel stalls on flow control...
        ClientSocket socket = new ClientSocket();
        socket.autoDemand = false;
        client(protocol).connect(socket, uri(ALICE_HOST, "/jetty/echo")).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        socket.session.sendText("flood " + FLOOD_MESSAGES + " 1048576", Callback.NOOP);
        Worker worker = pool(ALICE_HOST).getWorkers().get(0);
        // ...while plain requests to the same worker go on.
        for (int i = 0; i < 20; i++)
        {
            assertEquals("hello", get(ALICE_HOST, "/hello"));
        }
        assertEquals(List.of(worker), pool(ALICE_HOST).getWorkers());
        assertEquals(1, worker.getWebSockets());
        assertTrue(socket.messages.isEmpty());
        // ...and resumes when the client reads.
        socket.autoDemand = true;
        socket.session.demand();
        for (int i = 0; i < FLOOD_MESSAGES; i++)
        {
            assertEquals(1048576, ((byte[])socket.next()).length);
        }
        socket.closeAndAwait();
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testRecycledWorkerClosesWebSocketWithGoingAway(String protocol) throws Exception
    {
        ClientSocket socket = connect(client(protocol), uri(CAROL_HOST, "/jakarta/echo"));
        // An echo first: the tenant's endpoint is open (its @OnOpen returned). Jetty's container closes with 1001
        // only the sessions open when its stop begins; one still opening then ends with the connection (1006),
        // as on a plain Jetty stopped at that moment.
        socket.session.sendText("open", Callback.NOOP);
        assertEquals("open", socket.next());
        Worker worker = pool(CAROL_HOST).getWorkers().get(0);
        long crashes = pool(CAROL_HOST).getCrashes();
        // The WebSocket and this request are the worker's 2 requests: the next one recycles it.
        assertEquals("hello", get(CAROL_HOST, "/hello"));
        assertEquals("hello", get(CAROL_HOST, "/hello"));
        // The tenant's Jetty, stopping, closes its sessions with 1001 (going away), through the tunnel.
        String closed = socket.closed.get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertTrue(closed.startsWith("1001 "), closed);
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !pool(CAROL_HOST).getWorkers().contains(worker));
        assertEquals(crashes, pool(CAROL_HOST).getCrashes(), "a recycled worker's exit is no crash");
    }

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testWorkerStopsCleanlyAfterWebSockets(String protocol) throws Exception
    {
        ClientSocket socket = connect(client(protocol), uri(CAROL_HOST, "/jetty/echo"));
        socket.session.sendText("one", Callback.NOOP);
        assertEquals("one", socket.next());
        socket.closeAndAwait();
        Worker worker = pool(CAROL_HOST).getWorkers().get(0);
        // The closed WebSocket and this request are the worker's 2 requests: the next one recycles it, with no
        // WebSocket open, by GOAWAY and EOF.
        assertEquals("hello", get(CAROL_HOST, "/hello"));
        assertEquals("hello", get(CAROL_HOST, "/hello"));
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !pool(CAROL_HOST).getWorkers().contains(worker));
        // Its server stopped (the app's stop ran): the worker was not killed at its exit timeout.
        assertTrue(Files.exists(front.root.resolve("work/vhost-carol/" + STOP_MARKER + "-" + worker.getPid())), "the worker's server did not stop");
    }

    @Test
    public void testNotAnEndpointAnswersAsTheTenant() throws Exception
    {
        // The tenant sees an extended CONNECT whatever the client spoke: its answer is a plain Jetty's to one.
        int direct = refusal(plainClient2, URI.create("ws://127.0.0.1:" + plainConnector.getLocalPort() + "/nothing-here"));
        assertEquals(direct, refusal(http1, uri(ALICE_HOST, "/nothing-here")));
        assertEquals(direct, refusal(http2, uri(ALICE_HOST, "/nothing-here")));
        ItkTestServer.RawResponse response = front.raw("""
            GET /jetty/echo HTTP/1.1\r
            Host: alice.test\r
            Upgrade: websocket\r
            Connection: Upgrade\r
            Sec-WebSocket-Version: 13\r
            Sec-WebSocket-Key: not a key\r
            \r
            """);
        assertEquals(400, response.status(), response.content());
    }

    private static int refusal(WebSocketClient client, URI uri)
    {
        ExecutionException refused = assertThrows(ExecutionException.class, () -> connect(client, uri));
        UpgradeException upgrade = assertInstanceOf(UpgradeException.class, refused.getCause(), () -> refused.getCause().toString());
        return upgrade.getResponseStatusCode();
    }

    private static WorkerPool pool(String host)
    {
        String name = host.substring(0, host.indexOf('.'));
        return front.itk.getWorkerPools().stream().filter(p -> p.getName().equals(name)).findFirst().orElseThrow();
    }

    /**
     * The client's endpoint: messages (String or byte[]) and pongs in queues, the close as {@code "CODE REASON"}.
     */
    public static class ClientSocket implements Session.Listener
    {
        final BlockingQueue<Object> messages = new LinkedBlockingQueue<>();
        final BlockingQueue<byte[]> pongs = new LinkedBlockingQueue<>();
        final CompletableFuture<String> closed = new CompletableFuture<>();
        volatile boolean autoDemand = true;
        volatile Session session;

        @Override
        public void onWebSocketOpen(Session session)
        {
            this.session = session;
            if (autoDemand)
                session.demand();
        }

        @Override
        public void onWebSocketText(String text)
        {
            messages.add(text);
            session.demand();
        }

        @Override
        public void onWebSocketBinary(ByteBuffer payload, Callback callback)
        {
            byte[] bytes = new byte[payload.remaining()];
            payload.get(bytes);
            messages.add(bytes);
            callback.succeed();
            session.demand();
        }

        @Override
        public void onWebSocketPong(ByteBuffer payload)
        {
            byte[] bytes = new byte[payload.remaining()];
            payload.get(bytes);
            pongs.add(bytes);
            session.demand();
        }

        @Override
        public void onWebSocketPing(ByteBuffer payload)
        {
            session.sendPong(payload, Callback.NOOP);
            session.demand();
        }

        @Override
        public void onWebSocketClose(int statusCode, String reason, Callback callback)
        {
            closed.complete(statusCode + " " + reason);
            callback.succeed();
        }

        @Override
        public void onWebSocketError(Throwable cause)
        {
            closed.complete("1006 " + cause);
        }

        Object next() throws InterruptedException
        {
            Object message = messages.poll(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (message == null)
                throw new AssertionError("no message within " + TIMEOUT_SECONDS + "s, closed: " + closed.getNow("no"));
            return message;
        }

        void closeAndAwait() throws Exception
        {
            session.close(1000, "done", Callback.NOOP);
            assertEquals("1000 done", closed.get(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        }
    }
}
