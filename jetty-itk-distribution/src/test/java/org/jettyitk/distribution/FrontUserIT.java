package org.jettyitk.distribution;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;

import org.eclipse.jetty.client.ContentResponse;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The module path from jetty-home with {@code jetty.itk.frontUser}: Jetty binds port 80 on 127.0.0.1 as
 * root, then runs as that user on every thread, with no capability and no-new-privs; the only root process left
 * is the worker spawner, the worker's parent; the tenant runs as its uid; the vhost directory, 0750 and its files
 * 0640 of the front's group as the README's recipe says, is still scanned: a file added after the drop spawns its
 * worker, and its log, in {@code jetty.itk.logDirectories}, is opened by the spawner; SIGTERM stops all of them.</p>
 */
public class FrontUserIT
{
    private static final int TENANT = 43301;
    private static final int SECOND = 43302;
    private static final String SECOND_HOST = "second.itk.test";
    private static final int FRONT = 43390;
    private static final int PORT = 80;
    private static final String HOST = "frontuser.itk.test";

    private JettyBase base;
    private Clients clients;

    @BeforeEach
    public void createBase() throws Exception
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "the front must start as root to bind port 80 and drop to frontUser (run the build as root)");
        Assumptions.assumeTrue(isFree(PORT), "port " + PORT + " of 127.0.0.1 is in use on this machine: skipped");
        base = JettyBase.create("base-frontuser");
        clients = new Clients();
    }

    private static boolean isFree(int port)
    {
        try (ServerSocket ignored = new ServerSocket(port, 1, InetAddress.getByName("127.0.0.1")))
        {
            return true;
        }
        catch (IOException x)
        {
            return false;
        }
    }

    @AfterEach
    public void dispose()
    {
        if (clients != null)
            clients.close();
        if (base != null)
            base.close();
    }

    @Test
    public void testFrontRunsAsFrontUserOnPort80() throws Exception
    {
        base.startJar(null, "--approve-all-licenses", "--add-modules=http,itk");
        Path war = base.tenant("frontuser", TENANT, JettyBase.itDirectory().resolve("whoami.war"));
        // The recipe with frontUser: the directory 0750 and the files 0640, owned by root, group the front's.
        Path itk = base.dir.resolve("itk");
        Files.setAttribute(itk, "unix:gid", FRONT);
        Files.setPosixFilePermissions(itk, PosixFilePermissions.fromString("rwxr-x---"));
        base.writeVhost("frontuser.xml", JettyBase.vhostXml(HOST, TENANT, base.dir.relativize(war)), FRONT, "rw-r-----");
        Path logs = base.dir.resolve("logs").resolve("itk");
        base.start("jetty.http.host=127.0.0.1", "jetty.http.port=" + PORT, "jetty.itk.frontUser=" + FRONT, "jetty.itk.frontGroup=" + FRONT,
            "jetty.itk.logDirectories=" + logs);
        base.awaitLog("front dropped to " + FRONT);
        assertTrue(!base.logText().contains("no longer scanned") && !base.logText().contains("readable by other users") && !base.logText().contains("cannot be read"), base::logText);

        ContentResponse response = clients.get("http://" + HOST + ":" + PORT + "/");
        assertEquals(200, response.getStatus(), response::getContentAsString);
        assertTrue(response.getContentAsString().contains("Uid:\t" + TENANT + "\t" + TENANT + "\t" + TENANT + "\t" + TENANT), response.getContentAsString());

        ProcessHandle front = base.process();
        assertDropped(front.pid());
        List<ProcessHandle> spawners = front.descendants().filter(p -> commandLine(p).contains("org.jettyitk.internal.spawner.SpawnerMain")).toList();
        assertEquals(1, spawners.size(), () -> "spawners under the front: " + spawners);
        ProcessHandle spawner = spawners.get(0);
        assertEquals("0", status(Path.of("/proc/" + spawner.pid() + "/status"), "Uid").split("\\s+")[0], "the spawner keeps root");
        List<ProcessHandle> workers = spawner.children().filter(p -> commandLine(p).contains("org.jettyitk.internal.worker.WorkerMain")).toList();
        assertEquals(1, workers.size(), () -> "workers under the spawner: " + workers);
        // Nothing else under the front runs as root, but the spawner's class-data training while it lasts.
        for (ProcessHandle process : front.descendants().toList())
        {
            if (process.pid() == spawner.pid() || commandLine(process).contains("org.jettyitk.internal.worker.WorkerTraining"))
                continue;
            try
            {
                assertTrue(!status(Path.of("/proc/" + process.pid() + "/status"), "Uid").startsWith("0\t"), () -> "root process under the front: " + commandLine(process));
            }
            catch (NoSuchFileException x)
            {
                // Gone since the listing.
            }
        }

        // A vhost file added after the drop: the front, as its user, reads it; the spawner opens its log.
        Path secondWar = base.tenant("second", SECOND, JettyBase.itDirectory().resolve("whoami.war"));
        Path secondLog = logs.resolve("second.log");
        base.writeVhost("second.xml", JettyBase.vhostXml(SECOND_HOST, SECOND, base.dir.relativize(secondWar))
            .replace("</Configure>", "  <Set name=\"logFile\">" + secondLog + "</Set>\n</Configure>"), FRONT, "rw-r-----");
        await().atMost(JettyBase.TIMEOUT).until(() -> clients.get("http://" + SECOND_HOST + ":" + PORT + "/").getStatus() == 200);
        ContentResponse second = clients.get("http://" + SECOND_HOST + ":" + PORT + "/");
        assertTrue(second.getContentAsString().contains("Uid:\t" + SECOND + "\t" + SECOND + "\t" + SECOND + "\t" + SECOND), second.getContentAsString());
        assertTrue(Files.isRegularFile(secondLog), base::logText);
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(secondLog)));
        assertEquals(0, Files.getAttribute(secondLog, "unix:uid"));
        assertEquals(SECOND, Files.getAttribute(secondLog, "unix:gid"));

        int exit = base.stop();
        assertTrue(exit == 0 || exit == 143, "Jetty's exit status " + exit);
        await().atMost(JettyBase.TIMEOUT).until(() -> !spawner.isAlive() && workers.stream().noneMatch(ProcessHandle::isAlive));
    }

    private static void assertDropped(long pid) throws IOException
    {
        String id = Integer.toString(FRONT);
        List<Path> tasks;
        try (Stream<Path> list = Files.list(Path.of("/proc/" + pid + "/task")))
        {
            tasks = list.toList();
        }
        for (Path task : tasks)
        {
            Path file = task.resolve("status");
            try
            {
                assertEquals(List.of(id, id, id, id), List.of(status(file, "Uid").split("\\s+")), file + " Uid");
                assertEquals(List.of(id, id, id, id), List.of(status(file, "Gid").split("\\s+")), file + " Gid");
                assertEquals("0000000000000000", status(file, "CapEff"), file + " CapEff");
                assertEquals("0000000000000000", status(file, "CapPrm"), file + " CapPrm");
                assertEquals("1", status(file, "NoNewPrivs"), file + " NoNewPrivs");
            }
            catch (NoSuchFileException x)
            {
                // The thread ended since the listing.
            }
        }
    }

    private static String status(Path file, String name) throws IOException
    {
        for (String line : Files.readAllLines(file))
        {
            if (line.startsWith(name + ":"))
                return line.substring(name.length() + 1).strip();
        }
        throw new AssertionError("no " + name + " in " + file);
    }

    private static String commandLine(ProcessHandle process)
    {
        try
        {
            return Files.readString(Path.of("/proc/" + process.pid() + "/cmdline"), StandardCharsets.UTF_8).replace('\0', ' ');
        }
        catch (IOException x)
        {
            return "";
        }
    }
}
