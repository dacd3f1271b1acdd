package org.jettyitk.examples.embedded;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.component.LifeCycle;
import org.jettyitk.ItkHandler;
import org.jettyitk.internal.worker.WorkerMain;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The embedded example as its {@code main} runs it, on a free port: both vhosts serve as their uid, other hosts
 * reach the application's own context, and stopping the server leaves no worker.</p>
 */
public class EmbeddedExampleTest
{
    private Path base;
    private Server server;

    @BeforeEach
    public void init() throws IOException
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "workers run as other users: needs root");
        Path war = Path.of(System.getProperty("whoami.war", "../whoami/target/whoami.war"));
        Assumptions.assumeTrue(Files.isRegularFile(war), "no " + war + ": package examples/whoami first");
        base = Files.createTempDirectory("itk-embedded-test-");
        server = EmbeddedExample.newApplicationServer(0);
        ItkHandler itk = EmbeddedExample.addTenants(server, base, war, null);
        assertSame(itk, server.getHandler(), "the ItkHandler wraps the application's handler");
    }

    @AfterEach
    public void dispose() throws IOException
    {
        LifeCycle.stop(server);
        if (base != null)
        {
            try (var tree = Files.walk(base))
            {
                for (Path path : tree.sorted(java.util.Comparator.reverseOrder()).toList())
                {
                    Files.deleteIfExists(path);
                }
            }
        }
    }

    private String get(String host) throws IOException
    {
        int port = ((ServerConnector)server.getConnectors()[0]).getLocalPort();
        try (Socket socket = new Socket("127.0.0.1", port))
        {
            socket.setSoTimeout(60_000);
            OutputStream out = socket.getOutputStream();
            out.write(("GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            InputStream in = socket.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    public void testVhostsAndTheApplicationShareTheServer() throws Exception
    {
        server.start();

        String alice = get("alice.localhost");
        assertTrue(alice.startsWith("HTTP/1.1 200 "), alice);
        assertTrue(alice.contains("Uid:\t42001\t42001\t42001\t42001"), alice);
        // The page finds the tenants' directories beside its WAR (not in the worker's temporary directory); bob's is
        // 0700, so alice may not even tell whether it holds a secret, and the page says she is denied.
        assertTrue(alice.contains("read " + base.toRealPath().resolve("bob/secret.txt") + ": denied"), alice);
        assertFalse(alice.contains("Exception"), alice);
        String bob = get("bob.localhost");
        assertTrue(bob.contains("Uid:\t42002\t42002\t42002\t42002"), bob);
        String application = get("127.0.0.1");
        assertTrue(application.contains("Hello from the application's own context"), application);

        List<ProcessHandle> workers = workers();
        assertEquals(2, workers.size(), "one worker per vhost: " + workers);
        server.stop();
        await().atMost(Duration.ofSeconds(30)).until(() -> workers.stream().noneMatch(ProcessHandle::isAlive));
        assertEquals(List.of(), workers());
    }

    /**
     * @return the live children of this JVM that run {@link WorkerMain} with a file under this test's base (a
     * worker's app, in its arguments, which travel in its environment); not the front's class-data training JVM
     */
    private List<ProcessHandle> workers()
    {
        String prefix = base.toString() + "/";
        return ProcessHandle.current().descendants()
            .filter(ProcessHandle::isAlive)
            .filter(p ->
            {
                return read(p, "cmdline").contains(WorkerMain.class.getName()) && read(p, "environ").contains(prefix);
            })
            .toList();
    }

    /**
     * @return the process's command line or environment from {@code /proc}, or "" once it has exited.
     * {@code ProcessHandle.Info} gives no arguments for a command line as long as a worker's class path.
     */
    private static String read(ProcessHandle process, String file)
    {
        try
        {
            return Files.readString(Path.of("/proc/" + process.pid() + "/" + file), StandardCharsets.ISO_8859_1);
        }
        catch (IOException x)
        {
            return "";
        }
    }
}
