package org.jettyitk.tests;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

import org.jettyitk.VirtualHost;
import org.jettyitk.VirtualHostDirectory;
import org.jettyitk.internal.launch.WorkerClassPath;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>Privilege separation, for real, as root: a front in a JVM of its own (the drop is for the whole JVM) with
 * {@code frontUser} set. After start every thread of the front runs as that user with no capability and
 * no-new-privs, the spawner is the only root process left, and tenants still run as their uids. SIGKILL of the
 * spawner: the running worker keeps serving, a vhost that needs a new worker gets 503 and the front says why.
 * SIGKILL of the front: the spawner and the workers exit. Vhost files added after the drop, readable by the
 * front's group, are read by the dropped front and spawn their workers; their logs, and the rotation of logs, are
 * the spawner's to open.</p>
 */
public class PrivilegeSeparationTest
{
    /** The front's user: a numeric id no passwd file knows, outside the tenants' range of ids. */
    static final int FRONT = 41960;
    /** The size past which alice's log is rotated, with the "vhost-directory" front. */
    static final long LOG_SIZE = 4000;
    /** The tenant of the vhost file read at start, with the "closed-vhost-directory" front. */
    static final int FRANK = ItkTestServer.CAROL + 5;
    private static final String ALICE_HOST = "alice.test";
    private static final String BOB_HOST = "bob.test";
    private static final String CAROL_HOST = "carol.test";

    @Test
    public void testFrontDropsAndSpawnerServes() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "privilege separation needs root: skipped");
        try (SeparatedFront front = SeparatedFront.start())
        {
            try
            {
                assertFrontDropped(front.pid);
                assertEquals("0", field(Path.of("/proc/" + front.spawner + "/status"), "Uid").split("\\s+")[0], "the spawner runs as root");

                String whoami = front.get(ALICE_HOST, "/whoami");
                assertTrue(whoami.startsWith("HTTP/1.1 200"), whoami);
                assertTrue(whoami.contains("Uid:\t" + ItkTestServer.ALICE + "\t" + ItkTestServer.ALICE + "\t" + ItkTestServer.ALICE + "\t" + ItkTestServer.ALICE), whoami);
                long alice = workerPid(front.get(ALICE_HOST, "/pid"));
                assertEquals(Long.toString(front.spawner), field(Path.of("/proc/" + alice + "/status"), "PPid"), "the spawner is the worker's parent");

                // A vhost loaded after the drop: the spawner makes its HOME, its worker runs as its uid.
                front.command("add-carol");
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> front.get(CAROL_HOST, "/whoami").startsWith("HTTP/1.1 200"));
                String carol = front.get(CAROL_HOST, "/whoami");
                assertTrue(carol.contains("Uid:\t" + ItkTestServer.CAROL + "\t" + ItkTestServer.CAROL + "\t" + ItkTestServer.CAROL + "\t" + ItkTestServer.CAROL), carol);

                // The spawner dies under load: alice's worker keeps serving every request, bob's vhost, which needs
                // a new worker, gets 503.
                AtomicBoolean loading = new AtomicBoolean(true);
                CompletableFuture<List<String>> load = CompletableFuture.supplyAsync(() ->
                {
                    List<String> statuses = new ArrayList<>();
                    try
                    {
                        while (loading.get() || statuses.size() < 20)
                        {
                            String response = front.get(ALICE_HOST, "/pid");
                            statuses.add(response.substring(0, Math.min(12, response.length())));
                        }
                    }
                    catch (IOException x)
                    {
                        statuses.add(x.toString());
                    }
                    return statuses;
                });
                ProcessHandle.of(front.spawner).orElseThrow().destroyForcibly();
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> front.log().contains("worker spawner pid=" + front.spawner + " is gone"));
                loading.set(false);
                List<String> statuses = load.get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
                assertTrue(statuses.stream().allMatch("HTTP/1.1 200"::equals), statuses.toString());
                String again = front.get(ALICE_HOST, "/pid");
                assertTrue(again.startsWith("HTTP/1.1 200"), again);
                assertEquals(alice, workerPid(again), "the same worker still serves");
                String bob = front.get(BOB_HOST, "/pid");
                assertTrue(bob.startsWith("HTTP/1.1 503"), bob);
                assertTrue(front.log().contains("no new worker: the worker spawner pid=" + front.spawner + " is gone"), front.log());

                // The front dies: its worker sees EOF and exits.
                front.process.destroyForcibly();
                front.process.onExit().get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !alive(alice));
            }
            catch (Throwable x)
            {
                front.failed(x);
                throw x;
            }
        }
    }

    @Test
    public void testVhostFilesAndTenantLogsAfterTheDrop() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "privilege separation needs root: skipped");
        try (SeparatedFront front = SeparatedFront.start("vhost-directory"))
        {
            try
            {
                assertFrontDropped(front.pid);
                Path vhosts = front.root.resolve("vhosts");
                Path logs = front.root.resolve("logs");

                // A vhost file written after the drop, 0640 root:front in a 0750 root:front directory: the front,
                // as its user, reads it, and the spawner starts carol's worker as carol; its log is in a directory
                // allowed at start, which the spawner opens for the front.
                Path carolLog = logs.resolve("carol.log");
                writeVhostFile(vhosts, "carol.xml", vhostXml(CAROL_HOST, ItkTestServer.CAROL, front.root.resolve("carol"), carolLog), FRONT, "rw-r-----");
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> front.get(CAROL_HOST, "/whoami").startsWith("HTTP/1.1 200"));
                String carol = front.get(CAROL_HOST, "/whoami");
                assertTrue(carol.contains("Uid:\t" + ItkTestServer.CAROL + "\t" + ItkTestServer.CAROL + "\t" + ItkTestServer.CAROL + "\t" + ItkTestServer.CAROL), carol);
                assertTrue(front.get(CAROL_HOST, "/log?lines=3&text=carol-marker").startsWith("HTTP/1.1 200"));
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> Files.exists(carolLog) && Files.readString(carolLog).contains("carol-marker 2"));
                assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(carolLog)));
                assertEquals(0, Files.getAttribute(carolLog, "unix:uid"));
                assertEquals(ItkTestServer.CAROL, Files.getAttribute(carolLog, "unix:gid"));
                assertTrue(!front.log().contains("carol.xml: readable by other users"), front::log);

                // Alice's log, opened before the drop, is rotated after it, by the spawner.
                Path aliceLog = front.root.resolve("alice-logs").resolve("alice.log");
                Path aliceRotated = aliceLog.resolveSibling("alice.log.1");
                assertTrue(front.get(ALICE_HOST, "/log?lines=200&text=alice-marker").startsWith("HTTP/1.1 200"));
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> Files.exists(aliceLog) && Files.readString(aliceLog).contains("alice-marker 199"));
                assertTrue(Files.exists(aliceRotated), () -> "no " + aliceRotated + "; front log:\n" + front.log());
                assertTrue(Files.size(aliceLog) <= LOG_SIZE && Files.size(aliceRotated) <= LOG_SIZE, "each file bounded");
                assertEquals(ItkTestServer.ALICE, Files.getAttribute(aliceLog, "unix:gid"));
                assertEquals(ItkTestServer.ALICE, Files.getAttribute(aliceRotated, "unix:gid"));
                assertTrue(front.log().contains("tenant log " + aliceLog + " rotated"), front::log);

                // A vhost file the dropped front cannot read: an ERROR naming the file and the mode it needs.
                Path erin = writeVhostFile(vhosts, "erin.xml", vhostXml("erin.test", ItkTestServer.CAROL + 1, front.root.resolve("carol"), null), 0, "rw-------");
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> front.log().contains("itk vhost file " + erin + ":"));
                assertTrue(front.log().contains("itk vhost file " + erin + ": cannot be read by the front's user uid=" + FRONT + " gid=" + FRONT + " (mode 0600, owner 0:0)") &&
                    front.log().contains("make it mode 0640, owned by root, group " + FRONT), front::log);

                // A log in a directory not allowed before the drop: the spawner refuses, the vhost is not added.
                Path dave = writeVhostFile(vhosts, "dave.xml", vhostXml("dave.test", ItkTestServer.CAROL + 2, front.root.resolve("carol"), front.root.resolve("other-logs").resolve("dave.log")),
                    FRONT, "rw-r-----");
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> front.log().contains("itk vhost file " + dave));
                assertTrue(front.log().contains("is not a log directory allowed before the front's drop"), front::log);
                assertTrue(!Files.exists(front.root.resolve("other-logs")), "no directory made");

                // Readable by others: still a WARN, and used.
                Path grace = writeVhostFile(vhosts, "grace.xml", vhostXml("grace.test", ItkTestServer.CAROL + 3, front.root.resolve("carol"), null), FRONT, "rw-r--r--");
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> front.log().contains("itk vhost file " + grace + ": added vhost grace"));
                assertTrue(front.log().contains("itk vhost file " + grace + ": readable by other users"), front::log);

                // Through all of it, the vhosts that ran keep serving.
                assertTrue(front.get(ALICE_HOST, "/pid").startsWith("HTTP/1.1 200"));
                assertTrue(front.get(CAROL_HOST, "/pid").startsWith("HTTP/1.1 200"));
                assertTrue(front.get("dave.test", "/pid").startsWith("HTTP/1.1 404"));

                // A directory the front can no longer list is not taken for an empty one: no vhost goes.
                Files.setPosixFilePermissions(vhosts, PosixFilePermissions.fromString("rwx------"));
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> front.log().contains("itk vhost directory " + vhosts));
                assertTrue(front.log().contains("cannot be listed by the front's user uid=" + FRONT + " gid=" + FRONT) && front.log().contains("no vhost is removed"), front::log);
                assertTrue(!front.log().contains("removed vhost carol"), front::log);
                assertTrue(front.get(CAROL_HOST, "/pid").startsWith("HTTP/1.1 200"));
            }
            catch (Throwable x)
            {
                front.failed(x);
                throw x;
            }
        }
    }

    @Test
    public void testVhostDirectoryTheFrontCannotListIsNoLongerScanned() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "privilege separation needs root: skipped");
        try (SeparatedFront front = SeparatedFront.start("closed-vhost-directory"))
        {
            try
            {
                // Root read the root-only directory and its file at start; the front, dropped, could list neither:
                // rather than take the directory for an empty one and remove the vhost, it stops scanning it.
                Path vhosts = front.root.resolve("vhosts");
                assertTrue(front.log().contains("itk vhost directory " + vhosts + " (mode 0700, owner 0:0) cannot be listed by the front's user uid=" + FRONT + " gid=" + FRONT +
                    " once it drops: it is no longer scanned"), front::log);
                String frank = front.get("frank.test", "/whoami");
                assertTrue(frank.contains("Uid:\t" + FRANK + "\t" + FRANK + "\t" + FRANK + "\t" + FRANK), frank);
                assertTrue(!front.log().contains("removed vhost"), front::log);
            }
            catch (Throwable x)
            {
                front.failed(x);
                throw x;
            }
        }
    }

    private static String vhostXml(String host, int id, Path app, Path logFile)
    {
        return """
            <?xml version="1.0"?>
            <!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "https://jetty.org/configure_10_0.dtd">
            <Configure class="org.jettyitk.VirtualHost">
              <Call name="setHostNames"><Arg><Array type="String"><Item>%s</Item></Array></Arg></Call>
              <Set name="user">%d</Set>
              <Set name="group">%d</Set>
              <Set name="app">%s</Set>
              <Set name="handlerClass">%s</Set>
              %s
            </Configure>
            """.formatted(host, id, id, app, TestApp.class.getName(), logFile == null ? "" : "<Set name=\"logFile\">" + logFile + "</Set>");
    }

    /**
     * Writes a vhost file as the README says: under a hidden name, owned by root and {@code group}, then moved in.
     */
    private static Path writeVhostFile(Path directory, String name, String xml, int group, String mode) throws IOException
    {
        Path hidden = directory.resolve("." + name);
        Files.writeString(hidden, xml);
        Files.setAttribute(hidden, "unix:gid", group);
        Files.setPosixFilePermissions(hidden, PosixFilePermissions.fromString(mode));
        return Files.move(hidden, directory.resolve(name), StandardCopyOption.ATOMIC_MOVE);
    }

    @Test
    public void testSpawnerAndWorkersExitWhenTheFrontDies() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "privilege separation needs root: skipped");
        try (SeparatedFront front = SeparatedFront.start())
        {
            try
            {
                long alice = workerPid(front.get(ALICE_HOST, "/pid"));
                long bob = workerPid(front.get(BOB_HOST, "/pid"));
                front.process.destroyForcibly();
                front.process.onExit().get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !alive(alice) && !alive(bob) && !alive(front.spawner));
            }
            catch (Throwable x)
            {
                front.failed(x);
                throw x;
            }
        }
    }

    @Test
    public void testFrontKillsAndStopsItsWorkersThroughTheSpawner() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "privilege separation needs root: skipped");
        try (SeparatedFront front = SeparatedFront.start("temp-work"))
        {
            try
            {
                Path work = front.spawnerWorkDirectory();
                assertTrue(Files.isDirectory(work), work.toString());
                long alice = workerPid(front.get(ALICE_HOST, "/pid"));
                // A stopped worker answers no PING after a request timeout: the front kills it, through the spawner
                // (the front, another uid, could not signal it).
                ProcessHandle.of(alice).orElseThrow();
                assertEquals(0, new ProcessBuilder("kill", "-STOP", Long.toString(alice)).start().waitFor());
                // Every thread stopped, as the kernel says, before the request goes out.
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> allThreadsStopped(alice));
                String timedOut = front.get(ALICE_HOST, "/pid");
                assertTrue(timedOut.startsWith("HTTP/1.1 504"), timedOut);
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !alive(alice));
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> front.log().contains("worker exited unexpectedly vhost=alice pid=" + alice));
                long next = workerPid(front.get(ALICE_HOST, "/pid"));
                assertTrue(next != alice, "a new worker");
                long bob = workerPid(front.get(BOB_HOST, "/pid"));

                // A graceful stop: workers exit, the front's socket closes, the spawner deletes the work directory
                // the front created (the tenants' HOMEs emptied as each tenant) and exits.
                front.command("stop");
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !alive(next) && !alive(bob) && !alive(front.spawner));
                assertTrue(!Files.exists(work), () -> work + " left; front log:\n" + front.log());
                front.process.onExit().get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
                assertTrue(front.log().contains("worker spawner pid=" + front.spawner + " stopped"), front.log());
            }
            catch (Throwable x)
            {
                front.failed(x);
                throw x;
            }
        }
    }

    @Test
    public void testSpawnerTrainsTheClassArchive() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "privilege separation needs root: skipped");
        try (SeparatedFront front = SeparatedFront.start("class-archive"))
        {
            try
            {
                // The spawner, root for good, trains it: the front, dropped, could not stop a root training JVM.
                await().atMost(ItkTestServer.TIMEOUT_SECONDS * 2, TimeUnit.SECONDS).until(() -> front.log().contains("class-data archive"));
                assertTrue(front.log().contains(" trained in "), front.log());
                Path work = front.spawnerWorkDirectory();
                long alice = workerPid(front.get(ALICE_HOST, "/pid"));
                String commandLine = Files.readString(Path.of("/proc/" + alice + "/cmdline")).replace('\0', ' ');
                assertTrue(commandLine.contains("-XX:SharedArchiveFile=" + work + "/class-archive-"), commandLine);

                // At stop the spawner deletes the archive's directory from the work directory the front was given.
                front.command("stop");
                await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> !alive(alice) && !alive(front.spawner));
                try (Stream<Path> left = Files.list(work))
                {
                    List<Path> archives = left.filter(p -> p.getFileName().toString().startsWith("class-archive-")).toList();
                    assertTrue(archives.isEmpty(), archives::toString);
                }
            }
            catch (Throwable x)
            {
                front.failed(x);
                throw x;
            }
        }
    }

    static boolean allThreadsStopped(long pid) throws IOException
    {
        try (Stream<Path> tasks = Files.list(Path.of("/proc/" + pid + "/task")))
        {
            for (Path task : tasks.toList())
            {
                try
                {
                    if (!field(task.resolve("status"), "State").startsWith("T"))
                        return false;
                }
                catch (NoSuchFileException x)
                {
                    // The thread ended since the listing.
                }
            }
        }
        return true;
    }

    static void assertFrontDropped(long pid) throws IOException
    {
        String id = Integer.toString(FRONT);
        List<Path> tasks;
        try (Stream<Path> list = Files.list(Path.of("/proc/" + pid + "/task")))
        {
            tasks = list.toList();
        }
        assertTrue(tasks.size() > 1, "threads of the front: " + tasks);
        int checked = 0;
        for (Path task : tasks)
        {
            Path status = task.resolve("status");
            try
            {
                assertEquals(List.of(id, id, id, id), List.of(field(status, "Uid").split("\\s+")), status + " Uid");
                assertEquals(List.of(id, id, id, id), List.of(field(status, "Gid").split("\\s+")), status + " Gid");
                String groups = field(status, "Groups");
                assertTrue(groups.isEmpty() || groups.equals(id), status + " Groups: " + groups);
                for (String set : List.of("CapInh", "CapPrm", "CapEff", "CapAmb"))
                {
                    assertEquals("0000000000000000", field(status, set), status + " " + set);
                }
                assertEquals("1", field(status, "NoNewPrivs"), status + " NoNewPrivs");
                checked++;
            }
            catch (NoSuchFileException x)
            {
                // The thread ended since the listing.
            }
        }
        assertTrue(checked > 1, "threads checked: " + checked);
    }

    static String field(Path status, String name) throws IOException
    {
        for (String line : Files.readAllLines(status))
        {
            if (line.startsWith(name + ":"))
                return line.substring(name.length() + 1).strip();
        }
        throw new AssertionError("no " + name + " in " + status);
    }

    static long workerPid(String response)
    {
        int at = response.indexOf("pid=");
        assertTrue(response.startsWith("HTTP/1.1 200") && at >= 0, response);
        return Long.parseLong(response.substring(at + 4).strip());
    }

    static boolean alive(long pid)
    {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    /**
     * The front in its own JVM, as the test sees it: its pid, port, spawner, log.
     */
    static final class SeparatedFront implements AutoCloseable
    {
        final Process process;
        final long pid;
        final int port;
        final long spawner;
        final Path root;
        final Path log;

        private SeparatedFront(Process process, int port, long spawner, Path root, Path log)
        {
            this.process = process;
            this.pid = process.pid();
            this.port = port;
            this.spawner = spawner;
            this.root = root;
            this.log = log;
        }

        static SeparatedFront start(String... arguments) throws Exception
        {
            Path log = Files.createTempFile("itk-separated-front-", ".log");
            String java = ProcessHandle.current().info().command().orElse("java");
            List<String> command = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"), Main.class.getName()));
            command.addAll(List.of(arguments));
            Process child = new ProcessBuilder(command)
                .redirectError(log.toFile())
                .start();
            try
            {
                BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
                Map<String, String> values = CompletableFuture.supplyAsync(() ->
                {
                    Map<String, String> read = new HashMap<>();
                    try
                    {
                        for (int i = 0; i < 3; i++)
                        {
                            String line = out.readLine();
                            if (line == null)
                                break;
                            read.put(line.substring(0, line.indexOf('=')), line.substring(line.indexOf('=') + 1));
                        }
                    }
                    catch (IOException x)
                    {
                        throw new java.io.UncheckedIOException(x);
                    }
                    return read;
                }).get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
                assertEquals(3, values.size(), () -> "the front printed " + values + "; its log:\n" + readQuietly(log));
                return new SeparatedFront(child, Integer.parseInt(values.get("port")), Long.parseLong(values.get("spawner")), Path.of(values.get("root")), log);
            }
            catch (Throwable x)
            {
                child.destroyForcibly();
                System.err.println("front log " + log + ":\n" + readQuietly(log));
                throw x;
            }
        }

        String log()
        {
            return readQuietly(log);
        }

        /**
         * @return the whole HTTP/1.1 response, status line first
         */
        String get(String host, String path) throws IOException
        {
            try (Socket socket = new Socket("127.0.0.1", port))
            {
                socket.setSoTimeout(ItkTestServer.TIMEOUT_SECONDS * 1000);
                OutputStream output = socket.getOutputStream();
                output.write(("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                output.flush();
                InputStream input = socket.getInputStream();
                return new String(input.readAllBytes(), StandardCharsets.UTF_8);
            }
        }

        /**
         * @return the work directory the spawner was started with, from its command line
         */
        Path spawnerWorkDirectory() throws IOException
        {
            List<String> arguments = List.of(Files.readString(Path.of("/proc/" + spawner + "/cmdline")).split("\0"));
            int main = arguments.indexOf("org.jettyitk.internal.spawner.SpawnerMain");
            assertTrue(main > 0, arguments.toString());
            return Path.of(arguments.get(main + 6));
        }

        /**
         * Sends a line to the front's stdin.
         */
        void command(String line) throws IOException
        {
            OutputStream input = process.getOutputStream();
            input.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            input.flush();
        }

        /**
         * Prints the front's log when the test failed.
         */
        void failed(Throwable failure)
        {
            System.err.println("front log " + log + ":\n" + readQuietly(log));
        }

        @Override
        public void close() throws Exception
        {
            List<ProcessHandle> left = new ArrayList<>();
            ProcessHandle.of(spawner).ifPresent(left::add);
            process.toHandle().descendants().forEach(left::add);
            process.destroyForcibly();
            process.onExit().get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
            // What the front's death leaves (it should leave nothing) must not outlive the test.
            await().atMost(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> left.stream().noneMatch(ProcessHandle::isAlive));
            deleteTree(root);
            Files.deleteIfExists(log);
        }

        private static String readQuietly(Path log)
        {
            try
            {
                return Files.readString(log);
            }
            catch (IOException x)
            {
                return x.toString();
            }
        }
    }

    private static void deleteTree(Path root) throws IOException
    {
        if (!Files.exists(root))
            return;
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }

    /**
     * The front: vhosts alice and bob, {@code frontUser} {@value #FRONT}; prints its root, port and spawner's pid,
     * and serves until killed.
     */
    public static class Main
    {
        public static void main(String[] args) throws Exception
        {
            ItkTestServer front = new ItkTestServer();
            boolean temporaryWork = List.of(args).contains("temp-work");
            if (!temporaryWork)
                front.itk.setWorkDirectory(front.root.resolve("work"));
            front.itk.setRequestTimeoutMillis(3000);
            if (List.of(args).contains("class-archive"))
            {
                // Trained from jars only, as in a Jetty base: the build's classes packed into one.
                front.itk.setWorkerClassArchive(true);
                front.itk.setWorkerClassPath(WorkerClassPath.readableByAll(ClassArchiveTest.jarClassPath(front.root), front.root));
            }
            front.itk.setFrontUser(Integer.toString(FRONT));
            front.itk.setFrontGroup(Integer.toString(FRONT));
            VirtualHost alice = front.addTestApp("alice", ItkTestServer.ALICE);
            front.addTestApp("bob", ItkTestServer.BOB);
            // Carol's directory is made now, as root; her vhost is added after the drop.
            Path carolApp = front.tenantDirectory("carol", ItkTestServer.CAROL);
            VirtualHost carol = new VirtualHost("carol");
            carol.setHostNames(CAROL_HOST);
            carol.setUser(Integer.toString(ItkTestServer.CAROL));
            carol.setGroup(Integer.toString(ItkTestServer.CAROL));
            carol.setApp(carolApp.toString());
            carol.setHandlerClass(TestApp.class.getName());
            if (List.of(args).contains("closed-vhost-directory"))
            {
                // Root's alone: read at start, by root.
                Path vhosts = Files.createDirectory(front.root.resolve("vhosts"));
                Files.setPosixFilePermissions(vhosts, PosixFilePermissions.fromString("rwx------"));
                writeVhostFile(vhosts, "frank.xml", vhostXml("frank.test", FRANK, front.tenantDirectory("frank", FRANK), null), 0, "rw-------");
                front.itk.addBean(new VirtualHostDirectory(front.itk, vhosts));
            }
            if (List.of(args).contains("vhost-directory"))
            {
                // The recipe for frontUser: the vhost directory readable by the front's group, only root writes it.
                Path vhosts = Files.createDirectory(front.root.resolve("vhosts"));
                Files.setAttribute(vhosts, "unix:gid", FRONT);
                Files.setPosixFilePermissions(vhosts, PosixFilePermissions.fromString("rwxr-x---"));
                VirtualHostDirectory directory = new VirtualHostDirectory(front.itk, vhosts);
                directory.setScanIntervalSeconds(1);
                front.itk.addBean(directory);
                // Logs of vhosts loaded later go there; alice's, loaded at start, in a directory of its own.
                front.itk.setLogDirectories(front.root.resolve("logs").toString());
                alice.setLogFile(front.root.resolve("alice-logs").resolve("alice.log").toString());
                alice.setMaxLogSize(LOG_SIZE);
            }
            front.start();
            System.out.println("root=" + front.root);
            System.out.println("port=" + front.port());
            System.out.println("spawner=" + front.itk.getSpawnerPid());
            System.out.flush();
            BufferedReader commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String command;
            while ((command = commands.readLine()) != null)
            {
                if (command.equals("add-carol"))
                    front.itk.addVirtualHost(carol);
                if (command.equals("stop"))
                {
                    front.server.stop();
                    System.exit(0);
                }
            }
            Thread.sleep(Long.MAX_VALUE);
        }
    }
}
