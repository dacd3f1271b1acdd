package org.jettyitk.distribution;

import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.http.HttpScheme;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.websocket.api.Callback;
import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.client.WebSocketClient;
import org.jettyitk.distribution.tenant.EchoApp;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * <p>A tenant's Jakarta WebSocket endpoint through jetty-home with the overlay: the base enables
 * {@code ee10-websocket-jakarta} next to {@code itk}, and clients speak HTTP/1.1 (Upgrade) and HTTP/2 (h2c,
 * RFC 8441 extended CONNECT) to the front.</p>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public class WebSocketIT
{
    private static final int ALICE = 43021;
    private static final String MODULES = "http,http2c,ee10-websocket-jakarta,itk";

    private JettyBase base;
    private Clients clients;
    private WebSocketClient http1;
    private WebSocketClient http2;
    private int httpPort;

    @BeforeAll
    public void start() throws Exception
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "the front must run as root to start workers as other users (run the build as root)");
        base = JettyBase.create("base-websocket");
        clients = new Clients();
        httpPort = JettyBase.freePort();
        base.startJar(null, "--approve-all-licenses", "--add-modules=" + MODULES);
        Path app = tenantClasses("alice", ALICE);
        base.writeVhost("alice.xml", """
            <?xml version="1.0"?>
            <!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "https://jetty.org/configure_10_0.dtd">
            <Configure class="org.jettyitk.VirtualHost">
              <Call name="addHostName"><Arg>alice.itk.test</Arg></Call>
              <Set name="user">%d</Set>
              <Set name="group">%d</Set>
              <Set name="app"><Property name="jetty.base"/>/%s</Set>
              <Set name="handlerClass">%s</Set>
            </Configure>
            """.formatted(ALICE, ALICE, base.dir.relativize(app), EchoApp.class.getName()));
        base.start("jetty.http.host=127.0.0.1", "jetty.http.port=" + httpPort);
        http1 = newClient(clients.http1);
        http2 = newClient(newHttp2Client());
    }

    /**
     * @return the tenant's directory, owned by the id, with {@link EchoApp}'s classes in its {@code classes/}
     */
    private Path tenantClasses(String name, int id) throws Exception
    {
        Path tenants = Files.createDirectories(base.dir.resolve("tenants"));
        Files.setPosixFilePermissions(tenants, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path home = Files.createDirectories(tenants.resolve(name));
        Path compiled = Path.of(EchoApp.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        String packagePath = EchoApp.class.getPackageName().replace('.', '/');
        Path target = Files.createDirectories(home.resolve("classes").resolve(packagePath));
        try (Stream<Path> classes = Files.list(compiled.resolve(packagePath)))
        {
            for (Path file : classes.toList())
            {
                Files.copy(file, target.resolve(file.getFileName()));
            }
        }
        try (Stream<Path> tree = Files.walk(home))
        {
            for (Path path : tree.toList())
            {
                Files.setAttribute(path, "unix:uid", id);
                Files.setAttribute(path, "unix:gid", id);
            }
        }
        Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwx--x--x"));
        return home;
    }

    /**
     * An HTTP/2 client whose accepted WebSockets keep their first bytes: Jetty 12.1.14's HTTP/2 transport still
     * reads (and discards) the content of the 200 to an extended CONNECT after it handed the stream to the
     * WebSocket, so a message or close the server sends at once may be lost (see the module's WebSocketTest). An
     * accepted WebSocket's response gets a content listener that reads nothing.
     */
    private static HttpClient newHttp2Client()
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
        client.setSocketAddressResolver((host, port, context, promise) -> promise.succeeded(List.of(new InetSocketAddress("127.0.0.1", port))));
        return client;
    }

    private static WebSocketClient newClient(HttpClient httpClient) throws Exception
    {
        WebSocketClient client = new WebSocketClient(httpClient);
        client.start();
        return client;
    }

    @AfterAll
    public void stop() throws Exception
    {
        try
        {
            if (http1 != null)
                http1.stop();
            if (http2 != null)
                http2.stop();
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

    @ParameterizedTest
    @ValueSource(strings = {"HTTP/1.1", "HTTP/2.0"})
    public void testJakartaEndpointEchoes(String protocol) throws Exception
    {
        EchoClient listener = new EchoClient();
        WebSocketClient client = protocol.equals("HTTP/1.1") ? http1 : http2;
        Session session = client.connect(listener, URI.create("ws://alice.itk.test:" + httpPort + "/echo")).get(Clients.TIMEOUT_SECONDS, TimeUnit.SECONDS);
        session.sendText(protocol, Callback.NOOP);
        assertEquals("echo " + protocol, listener.messages.poll(Clients.TIMEOUT_SECONDS, TimeUnit.SECONDS));
        session.close(1000, "bye", Callback.NOOP);
        assertEquals("1000 bye", listener.closed.get(Clients.TIMEOUT_SECONDS, TimeUnit.SECONDS));
    }

    public static class EchoClient implements Session.Listener.AutoDemanding
    {
        final BlockingQueue<String> messages = new LinkedBlockingQueue<>();
        final CompletableFuture<String> closed = new CompletableFuture<>();

        @Override
        public void onWebSocketText(String text)
        {
            messages.add(text);
        }

        @Override
        public void onWebSocketClose(int statusCode, String reason, Callback callback)
        {
            closed.complete(statusCode + " " + reason);
            callback.succeed();
        }
    }
}
