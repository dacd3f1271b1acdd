package org.jettyitk.tests;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.http2.client.HTTP2Client;
import org.eclipse.jetty.http2.client.transport.HttpClientTransportOverHTTP2;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.component.LifeCycle;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHost;
import org.jettyitk.internal.posix.Posix;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * <p>A front for tests: a {@link Server} on a free loopback port (HTTP/1.1 and h2c), an {@link ItkHandler},
 * tenant directories chowned to numeric ids, and HTTP/1.1 and HTTP/2 clients. {@link #close()} stops all and
 * checks that no worker process is left.</p>
 */
public class ItkTestServer implements AutoCloseable
{
    /** Numeric ids no passwd file knows: the tests need no useradd. */
    public static final int ALICE = 41001;
    public static final int BOB = 41002;

    public final Path root;
    public final Server server;
    public final ServerConnector connector;
    public final ItkHandler itk = new ItkHandler();
    public final HttpClient http1 = new HttpClient();
    public final HttpClient http2 = new HttpClient(new HttpClientTransportOverHTTP2(new HTTP2Client()));
    private final List<VirtualHost> vhosts = new ArrayList<>();

    public ItkTestServer() throws IOException
    {
        root = Files.createTempDirectory("itk-test-");
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
        QueuedThreadPool threads = new QueuedThreadPool();
        threads.setName("itk-test-front");
        server = new Server(threads);
        HttpConfiguration config = new HttpConfiguration();
        connector = new ServerConnector(server, 1, 1, new HttpConnectionFactory(config), new HTTP2CServerConnectionFactory(config));
        connector.setHost("127.0.0.1");
        server.addConnector(connector);
        server.setHandler(itk);
    }

    public static boolean isRoot()
    {
        try
        {
            return Posix.get().geteuid() == 0;
        }
        catch (IOException x)
        {
            return false;
        }
    }

    /**
     * @return a directory owned by the id, mode 0711, under this server's root
     */
    public Path tenantDirectory(String name, int id) throws IOException
    {
        Path dir = Files.createDirectories(root.resolve(name));
        chown(dir, id);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        return dir;
    }

    public static void chown(Path path, int id) throws IOException
    {
        Files.setAttribute(path, "unix:uid", id);
        Files.setAttribute(path, "unix:gid", id);
    }

    /**
     * Adds a vhost running the {@link TestApp} handler as the given id, with the given supplementary groups.
     */
    public VirtualHost addTestApp(String name, int id, String... groups) throws IOException
    {
        Path dir = tenantDirectory(name, id);
        VirtualHost vhost = new VirtualHost(name);
        vhost.setHostNames(name + ".test");
        vhost.setUser(Integer.toString(id));
        vhost.setGroup(Integer.toString(id));
        vhost.setGroups(groups);
        vhost.setApp(dir.toString());
        vhost.setHandlerClass(TestApp.class.getName());
        return add(vhost);
    }

    public VirtualHost add(VirtualHost vhost)
    {
        vhosts.add(vhost);
        itk.addVirtualHost(vhost);
        return vhost;
    }

    public ItkTestServer start() throws Exception
    {
        // Every host name is this front: no name resolution, and the URI's host is the Host and :authority.
        for (HttpClient client : List.of(http1, http2))
        {
            client.setSocketAddressResolver((host, port, context, promise) ->
                promise.succeeded(List.of(new InetSocketAddress("127.0.0.1", port))));
        }
        server.start();
        http1.start();
        http2.start();
        return this;
    }

    public int port()
    {
        return connector.getLocalPort();
    }

    /**
     * @return a request to this front for the given virtual host (every name resolves to this front)
     */
    public Request request(HttpClient client, String host, String pathQuery)
    {
        return client.newRequest("http://" + host + ":" + port() + pathQuery)
            .timeout(60, TimeUnit.SECONDS);
    }

    public ContentResponse get(HttpClient client, String host, String pathQuery) throws Exception
    {
        return request(client, host, pathQuery).send();
    }

    @Override
    public void close() throws Exception
    {
        List<ProcessHandle> workers = ProcessHandle.current().descendants().toList();
        LifeCycle.stop(http1);
        LifeCycle.stop(http2);
        LifeCycle.stop(server);
        for (ProcessHandle worker : workers)
        {
            worker.onExit().get(30, TimeUnit.SECONDS);
        }
        await().atMost(30, TimeUnit.SECONDS).until(() -> ProcessHandle.current().descendants().noneMatch(ProcessHandle::isAlive));
        assertEquals(List.of(), ProcessHandle.current().descendants().filter(ProcessHandle::isAlive).map(ProcessHandle::pid).toList(), "worker processes left");
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }
}
