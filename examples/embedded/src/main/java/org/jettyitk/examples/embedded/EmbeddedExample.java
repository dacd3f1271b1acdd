package org.jettyitk.examples.embedded;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.stream.Stream;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ContextHandler;
import org.eclipse.jetty.util.Callback;
import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHost;
import org.jettyitk.VirtualHostDirectory;

/**
 * <p>jetty-itk embedded in an application that already has its Jetty {@link Server}: the server keeps its own
 * context (here a {@link ContextHandler} saying hello), and an {@link ItkHandler} wrapping it serves two vhosts,
 * {@code alice.localhost} and {@code bob.localhost}, each in a worker running as its own numeric uid and gid
 * (42001 and 42002, no {@code useradd} needed). Requests for any other host reach the application's context.</p>
 * <pre>
 *   curl http://alice.localhost:8080/     alice's app, as uid 42001
 *   curl http://bob.localhost:8080/       bob's app, as uid 42002
 *   curl http://127.0.0.1:8080/           the application's own context
 * </pre>
 * <p>Arguments: {@code --port N} (default 8080; 0 for any), {@code --base DIR} (default
 * {@code /tmp/jetty-itk-embedded}, recreated), {@code --war PATH} (the tenants' webapp; default a static page),
 * {@code --vhosts DIR} (also read vhost XML files from that directory, as the Jetty module does; with a front user,
 * which reads the files added later, make it mode 0750 and its files 0640, owned by root, group that user's),
 * {@code --front-user ID} (the uid and gid the server runs as once started, default {@value #FRONT}; {@code root}
 * keeps root).</p>
 */
public final class EmbeddedExample
{
    public static final int ALICE = 42001;
    public static final int BOB = 42002;
    /** The uid and gid the server drops to once started: none of the tenants'. */
    public static final int FRONT = 42000;

    private EmbeddedExample()
    {
    }

    public static void main(String[] args) throws Exception
    {
        int port = 8080;
        Path base = Path.of("/tmp/jetty-itk-embedded");
        Path war = null;
        Path vhosts = null;
        String frontUser = Integer.toString(FRONT);
        for (int i = 0; i + 1 < args.length; i += 2)
        {
            switch (args[i])
            {
                case "--port" -> port = Integer.parseInt(args[i + 1]);
                case "--base" -> base = Path.of(args[i + 1]);
                case "--war" -> war = Path.of(args[i + 1]);
                case "--vhosts" -> vhosts = Path.of(args[i + 1]);
                case "--front-user" -> frontUser = args[i + 1];
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (!"root".equals(System.getProperty("user.name")))
        {
            System.err.println("jetty-itk embedded example: needs root to run each vhost as its own user; run it with sudo.");
            System.exit(2);
        }

        Server server = newApplicationServer(port);
        ItkHandler itk = addTenants(server, base, war, vhosts);
        if (!"root".equals(frontUser))
        {
            // Once started, the server runs as this id; a root spawner starts the workers.
            itk.setFrontUser(frontUser);
            itk.setFrontGroup(frontUser);
        }
        server.setStopAtShutdown(true);
        server.start();
        System.out.printf("""
            jetty-itk embedded example on http://127.0.0.1:%1$d/ (Ctrl-C stops it and its workers)
              curl http://alice.localhost:%1$d/    alice's app, as uid %2$d
              curl http://bob.localhost:%1$d/      bob's app, as uid %3$d
              curl http://127.0.0.1:%1$d/          the application's own context
            the server runs as %4$s; only the worker spawner (pid %5$d) keeps root
            %n""", ((ServerConnector)server.getConnectors()[0]).getLocalPort(), ALICE, BOB,
            itk.getFrontUser() != null ? "uid " + itk.getFrontUser() : "root", itk.getSpawnerPid());
        server.join();
    }

    /**
     * @return the application's server as it was before jetty-itk: a connector and a context of its own
     */
    public static Server newApplicationServer(int port)
    {
        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(port);
        server.addConnector(connector);
        server.setHandler(new ContextHandler(new HelloHandler(), "/"));
        return server;
    }

    /**
     * <p>What jetty-itk adds to an existing server: an {@link ItkHandler} inserted between the server and its handler,
     * so that the vhosts' hosts go to their workers and every other host to the application's handler, and the
     * vhosts themselves.</p>
     *
     * @param server a server that is not started
     * @param base a directory for the tenants' files, recreated
     * @param war the tenants' webapp, or null for a static page
     * @param vhosts a directory of vhost XML files to read too, or null
     * @return the handler
     */
    public static ItkHandler addTenants(Server server, Path base, Path war, Path vhosts) throws IOException
    {
        recreate(base);
        ItkHandler itk = new ItkHandler();
        itk.addVirtualHost(tenant(base, "alice", ALICE, war));
        itk.addVirtualHost(tenant(base, "bob", BOB, war));
        if (vhosts != null)
            itk.addBean(new VirtualHostDirectory(itk, vhosts));
        server.insertHandler(itk);
        return itk;
    }

    /**
     * @return a vhost {@code NAME.localhost} running as the id, its app in {@code base/NAME}, owned by the id
     */
    private static VirtualHost tenant(Path base, String name, int id, Path war) throws IOException
    {
        Path home = Files.createDirectories(base.resolve(name));
        Path app;
        if (war != null)
        {
            app = Files.copy(war, home.resolve(war.getFileName()));
        }
        else
        {
            app = Files.createDirectories(home.resolve("www"));
            Files.writeString(app.resolve("index.html"), "<h1>Hello from " + name + "</h1>\n");
        }
        try (Stream<Path> tree = Files.walk(home))
        {
            for (Path path : tree.toList())
            {
                Files.setAttribute(path, "unix:uid", id);
                Files.setAttribute(path, "unix:gid", id);
            }
        }
        // Only the tenant (its worker) may enter: other tenants can neither read its app nor its files.
        Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwx------"));

        VirtualHost vhost = new VirtualHost(name);
        vhost.setHostNames(name + ".localhost");
        vhost.setUser(Integer.toString(id));
        vhost.setGroup(Integer.toString(id));
        vhost.setGroups();
        vhost.setApp(app.toString());
        return vhost;
    }

    private static void recreate(Path base) throws IOException
    {
        if (Files.exists(base))
        {
            try (Stream<Path> tree = Files.walk(base))
            {
                for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
                {
                    Files.delete(path);
                }
            }
        }
        Files.createDirectories(base);
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /**
     * The application's own content, served in the front as usual.
     */
    private static final class HelloHandler extends Handler.Abstract
    {
        @Override
        public boolean handle(Request request, Response response, Callback callback)
        {
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "text/plain;charset=utf-8");
            Content.Sink.write(response, true, "Hello from the application's own context\n", callback);
            return true;
        }
    }
}
