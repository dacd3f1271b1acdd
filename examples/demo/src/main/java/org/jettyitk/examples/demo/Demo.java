package org.jettyitk.examples.demo;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.List;
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
 * <p>The jetty-itk demo: {@code alice.localhost} and {@code bob.localhost} on {@code 127.0.0.1:8080}, each served
 * by the whoami webapp in a worker running as its own numeric uid and gid (41001 and 41002), with no
 * {@code useradd}.</p>
 * <pre>
 *   /tmp/jetty-itk-demo/alice/www          the tenant's webapp (whoami.war unpacked, plus hello.txt)
 *   /tmp/jetty-itk-demo/alice/secret.txt   mode 0600: only alice may read it
 * </pre>
 * <p>Arguments: {@code --war PATH} (required), {@code --port N} (default 8080), {@code --base DIR}.</p>
 */
public final class Demo
{
    private static final int CAP_SETGID = 6;
    private static final int CAP_SETUID = 7;

    private Demo()
    {
    }

    public static void main(String[] args) throws Exception
    {
        Path war = null;
        int port = 8080;
        Path base = Path.of("/tmp/jetty-itk-demo");
        for (int i = 0; i + 1 < args.length; i += 2)
        {
            switch (args[i])
            {
                case "--war" -> war = Path.of(args[i + 1]);
                case "--port" -> port = Integer.parseInt(args[i + 1]);
                case "--base" -> base = Path.of(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (war == null)
            throw new IllegalArgumentException("--war PATH is required");
        if (!canSwitchUsers())
        {
            System.err.println("jetty-itk demo: needs root (or CAP_SETUID and CAP_SETGID) to run each vhost as its own user; run it with sudo.");
            System.exit(2);
        }

        prepareBase(base);
        ItkHandler itk = new ItkHandler();
        itk.addVirtualHost(tenant(base, war, "alice", 41001));
        itk.addVirtualHost(tenant(base, war, "bob", 41002));

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
            %n""", port);
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
        Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwx--x--x"));
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

    private static boolean canSwitchUsers() throws IOException
    {
        for (String line : Files.readAllLines(Path.of("/proc/self/status")))
        {
            if (line.startsWith("CapEff:"))
            {
                long caps = Long.parseLong(line.substring("CapEff:".length()).trim(), 16);
                return (caps & (1L << CAP_SETUID)) != 0 && (caps & (1L << CAP_SETGID)) != 0;
            }
        }
        return false;
    }

}
