package org.jettyitk.examples.demo;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHost;

/**
 * <p>The demo's server: a front on {@code 127.0.0.1:port} (HTTP/1.1 and h2c) with two vhosts, and their tenant
 * directories.</p>
 * <pre>
 *   /tmp/jetty-itk-demo/alice/www          the tenant's webapp (whoami.war unpacked, plus hello.txt)
 *   /tmp/jetty-itk-demo/alice/secret.txt   mode 0600: only alice may read it
 * </pre>
 */
public final class DemoServer
{
    /** The uid and gid the demo's server runs as once started: none of the tenants'. */
    static final int FRONT = 41000;

    private DemoServer()
    {
    }

    static void run(Path war, int port, Path base) throws Exception
    {
        prepareBase(base);
        ItkHandler itk = new ItkHandler();
        itk.addVirtualHost(tenant(base, war, "alice", 41001));
        itk.addVirtualHost(tenant(base, war, "bob", 41002));
        // Once started, the server runs as uid and gid 41000; only the worker spawner keeps root.
        itk.setFrontUser(Integer.toString(FRONT));
        itk.setFrontGroup(Integer.toString(FRONT));

        Server server = new Server();
        HttpConfiguration config = new HttpConfiguration();
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(config), new HTTP2CServerConnectionFactory(config));
        connector.setHost(InetAddress.getLoopbackAddress().getHostAddress());
        connector.setPort(port);
        server.addConnector(connector);
        server.setHandler(itk);
        server.setStopAtShutdown(true);
        server.start();

        System.out.printf("""
            jetty-itk demo on http://127.0.0.1:%1$d/ (Ctrl-C stops it and its workers)
              curl http://alice.localhost:%1$d/           whoami page of alice (uid 41001)
              curl http://bob.localhost:%1$d/             whoami page of bob (uid 41002)
              curl http://alice.localhost:%1$d/hello.txt  a static file
            the server runs as uid %2$d; only the worker spawner (pid %3$d) keeps root
            %n""", port, FRONT, itk.getSpawnerPid());
        server.join();
    }

    private static VirtualHost tenant(Path base, Path war, String name, int id) throws IOException
    {
        Path home = base.resolve(name);
        Path www = home.resolve("www");
        Files.createDirectories(www);
        unpack(war, www);
        Files.writeString(www.resolve("hello.txt"), "Hello from " + name + "'s static file.\n");
        Path secret = home.resolve("secret.txt");
        Files.writeString(secret, name + "'s secret\n");
        chownTree(home, id);
        // Only the tenant (its worker) may enter: other tenants can neither read its app nor its files.
        Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwx------"));
        Files.setPosixFilePermissions(secret, PosixFilePermissions.fromString("rw-------"));

        VirtualHost vhost = new VirtualHost(name);
        vhost.setHostNames(name + ".localhost");
        vhost.setUser(Integer.toString(id));
        vhost.setGroup(Integer.toString(id));
        vhost.setGroups();
        vhost.setApp(www.toString());
        return vhost;
    }

    private static void prepareBase(Path base) throws IOException
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

    private static void unpack(Path war, Path into) throws IOException
    {
        try (JarFile jar = new JarFile(war.toFile()))
        {
            for (JarEntry entry : jar.stream().toList())
            {
                Path target = into.resolve(entry.getName()).normalize();
                if (!target.startsWith(into))
                    throw new IOException("entry outside the webapp: " + entry.getName());
                if (entry.isDirectory())
                {
                    Files.createDirectories(target);
                    continue;
                }
                Files.createDirectories(target.getParent());
                try (InputStream in = jar.getInputStream(entry))
                {
                    Files.copy(in, target);
                }
            }
        }
    }

    private static void chownTree(Path root, int id) throws IOException
    {
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.toList())
            {
                Files.setAttribute(path, "unix:uid", id);
                Files.setAttribute(path, "unix:gid", id);
            }
        }
    }

}
