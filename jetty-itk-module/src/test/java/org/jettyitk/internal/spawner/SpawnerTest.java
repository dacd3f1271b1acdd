package org.jettyitk.internal.spawner;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.posix.UnixSockets;
import org.jettyitk.internal.wire.WorkerArguments;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The spawner, for real, as root: this JVM plays the front, stating the front's credentials (or another's)
 * through {@code SCM_CREDENTIALS}, which the kernel lets only a privileged sender do. The spawner refuses a
 * sender that is not the front, identities with 0, the front's ids or ids out of range, a refused environment,
 * a {@code HOME} outside the work directory, malformed, oversized and fuzzed messages, and after each refusal
 * still spawns a good request's worker, as its tenant, with the front's pipe ends handed over. The worker's
 * "java" is a script that prints its uid and gid on the protocol pipe and exits at EOF.</p>
 * <p>Tenant logs: the spawner allows a log directory only when the root front asks (uid 0 in the credentials),
 * opens and rotates logs only directly in such a directory, creating them 0640 root:tenant, and refuses anything
 * else (a directory the front names once dropped, a directory a tenant owns or reached through a tenant's link, a
 * path with {@code ..}, a system file, a link, a hard-linked file, a FIFO, a rotation that would replace a system
 * file, group 0 or the front's), changing nothing, and serves the next request.</p>
 */
public class SpawnerTest
{
    private static final int FRONT = 41050;
    private static final int ALICE = 41001;
    private static final int MIN_ID = 41000;
    private static final int MAX_ID = 41100;
    private static final long TIMEOUT_SECONDS = 60;

    private UnixSockets sockets;
    private Path root;
    private Path work;
    private int socket = -1;
    private long spawner;
    private UnixSockets.Credentials front;

    @BeforeEach
    public void startSpawner() throws Exception
    {
        Assumptions.assumeTrue(isRoot(), "the spawner runs as root: skipped when not root");
        sockets = UnixSockets.get();
        root = Files.createTempDirectory("itk-spawner-");
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwx--x--x"));
        work = Files.createDirectory(root.resolve("work"));
        Files.setPosixFilePermissions(work, PosixFilePermissions.fromString("rwx--x--x"));
        Path home = Files.createDirectory(work.resolve("vhost-alice"));
        Files.setAttribute(home, "unix:uid", ALICE);
        Files.setAttribute(home, "unix:gid", ALICE);
        Files.setPosixFilePermissions(home, PosixFilePermissions.fromString("rwx------"));
        Path fakeJava = root.resolve("fake-java");
        Files.writeString(fakeJava, "#!/bin/sh\nid -u\nid -g\nexec cat >/dev/null\n");
        Files.setPosixFilePermissions(fakeJava, PosixFilePermissions.fromString("rwxr-xr-x"));
        int[] pair = sockets.socketPair();
        sockets.passCredentials(pair[1]);
        String java = ProcessHandle.current().info().command().orElse("java");
        spawner = sockets.spawn(java, List.of("-cp", System.getProperty("java.class.path"), SpawnerMain.class.getName(),
            Long.toString(ProcessHandle.current().pid()), Integer.toString(FRONT), Integer.toString(FRONT), Integer.toString(MIN_ID), Integer.toString(MAX_ID),
            work.toString(), "false", "false", fakeJava.toString(), "/nonexistent.jar"), List.of("PATH=/usr/bin:/bin"), pair[1]);
        sockets.close(pair[1]);
        socket = pair[0];
        front = new UnixSockets.Credentials((int)ProcessHandle.current().pid(), FRONT, FRONT);
    }

    @AfterEach
    public void stopSpawner() throws Exception
    {
        if (socket >= 0)
        {
            sockets.shutdown(socket);
            sockets.close(socket);
            int status = CompletableFuture.supplyAsync(() ->
            {
                try
                {
                    return sockets.waitFor(spawner);
                }
                catch (IOException x)
                {
                    throw new java.io.UncheckedIOException(x);
                }
            }).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            assertEquals(0, status, "the spawner's wait status once the front's end closed");
        }
        if (root != null)
        {
            try (Stream<Path> tree = Files.walk(root))
            {
                for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
                {
                    Files.deleteIfExists(path);
                }
            }
        }
    }

    private static boolean isRoot() throws IOException
    {
        return org.jettyitk.internal.posix.Posix.get().geteuid() == 0;
    }

    private static WorkerArguments alice()
    {
        return new WorkerArguments("alice", new Identity("alice", ALICE, ALICE, new int[0]), "/nonexistent-app", null, 027,
            null, List.of("-Xmx64m"), Map.of("GREETING", "hello"));
    }

    private UnixSockets.Credentials rootFront()
    {
        return new UnixSockets.Credentials(front.pid(), 0, 0);
    }

    private Path logDirectory() throws IOException
    {
        Path logs = root.resolve("logs");
        if (!Files.isDirectory(logs))
        {
            Files.createDirectory(logs);
            Files.setPosixFilePermissions(logs, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        return logs;
    }

    private void allowAsRoot(Path directory) throws Exception
    {
        sockets.sendAs(socket, SpawnerProtocol.encodeAllowLogDirectory(11, directory.toString()), rootFront());
        SpawnerProtocol.Reply reply = SpawnerProtocol.decodeReply(receive().bytes());
        assertEquals(SpawnerProtocol.DONE, reply.type(), () -> "reply " + reply);
        assertEquals(11, reply.id());
    }

    /**
     * @return the descriptor the spawner handed over for the log
     */
    private int logRequest(byte type, Path file, int gid) throws Exception
    {
        sockets.sendAs(socket, SpawnerProtocol.encodeLogRequest(12, type, file.toString(), gid), front);
        UnixSockets.Message message = receive();
        SpawnerProtocol.Reply reply = SpawnerProtocol.decodeReply(message.bytes());
        assertEquals(SpawnerProtocol.LOG_OPENED, reply.type(), () -> "reply " + reply);
        assertEquals(12, reply.id());
        assertEquals(SpawnerProtocol.LOG_OPENED_FDS, message.fds().length);
        return message.fds()[0];
    }

    private void writeAndClose(int fd, String text) throws IOException
    {
        try
        {
            Posix.get().write(fd, text.getBytes(StandardCharsets.UTF_8));
        }
        finally
        {
            sockets.close(fd);
        }
    }

    /**
     * A good log request: alice's log opens, takes a line, and is 0640 root:alice.
     */
    private void assertLogOpens() throws Exception
    {
        Path log = logDirectory().resolve("alice.log");
        writeAndClose(logRequest(SpawnerProtocol.OPEN_LOG, log, ALICE), "line\n");
        assertTrue(Files.readString(log).endsWith("line\n"), log.toString());
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(log)));
        assertEquals(0, Files.getAttribute(log, "unix:uid"));
        assertEquals(ALICE, Files.getAttribute(log, "unix:gid"));
    }

    private static String encoded(String uid, String gid, String groups)
    {
        return String.join("\n", "--vhost", "alice", "--user", "alice", "--uid", uid, "--gid", gid, "--groups", groups, "--app", "/nonexistent-app", "--umask", "27");
    }

    /**
     * A spawn request written by hand, so that it can say what {@link WorkerArguments} would refuse to.
     */
    private static byte[] rawSpawn(String home, String arguments, Map<String, String> environment) throws IOException
    {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeByte(SpawnerProtocol.VERSION);
        out.writeByte(SpawnerProtocol.SPAWN);
        out.writeInt(7);
        writeString(out, home);
        writeString(out, arguments);
        out.writeByte(0);
        out.writeInt(0);
        out.writeInt(environment.size());
        for (Map.Entry<String, String> entry : environment.entrySet())
        {
            writeString(out, entry.getKey());
            writeString(out, entry.getValue());
        }
        return bytes.toByteArray();
    }

    private static void writeString(DataOutputStream out, String value) throws IOException
    {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    private String home()
    {
        return work.resolve("vhost-alice").toString();
    }

    private UnixSockets.Message receive() throws Exception
    {
        UnixSockets.Message message = CompletableFuture.supplyAsync(() ->
        {
            try
            {
                return sockets.receive(socket, SpawnerProtocol.MAX_MESSAGE, SpawnerProtocol.SPAWNED_FDS);
            }
            catch (IOException x)
            {
                throw new java.io.UncheckedIOException(x);
            }
        }).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertNotNull(message, "the spawner closed its socket");
        return message;
    }

    /**
     * @return the spawner's refusal, checked to name the reason
     */
    private String assertRefused(byte[] request, UnixSockets.Credentials sender, String reason) throws Exception
    {
        sockets.sendAs(socket, request, sender);
        UnixSockets.Message message = receive();
        SpawnerProtocol.Reply reply = SpawnerProtocol.decodeReply(message.bytes());
        assertEquals(SpawnerProtocol.FAILED, reply.type(), () -> "reply " + reply);
        assertEquals(0, message.fds().length);
        assertTrue(reply.reason().contains(reason), () -> "refusal '" + reply.reason() + "' does not say '" + reason + "'");
        return reply.reason();
    }

    /**
     * A good request: the worker starts as alice, its stdout (the protocol pipe) is the front's, and its exit is
     * reported once the front closes its stdin.
     */
    private void assertSpawns() throws Exception
    {
        sockets.sendAs(socket, SpawnerProtocol.encodeSpawn(1, alice(), home()), front);
        UnixSockets.Message message = receive();
        SpawnerProtocol.Reply reply = SpawnerProtocol.decodeReply(message.bytes());
        assertEquals(SpawnerProtocol.SPAWNED, reply.type(), () -> "reply " + reply);
        assertEquals(SpawnerProtocol.SPAWNED_FDS, message.fds().length);
        String output;
        try (InputStream stdout = new FileInputStream("/proc/self/fd/" + message.fds()[1]))
        {
            // Read by hand: this JDK's readNBytes seeks, which a pipe refuses.
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            byte[] buffer = new byte[64];
            int read;
            while (bytes.size() < 12 && (read = stdout.read(buffer, 0, 12 - bytes.size())) > 0)
            {
                bytes.write(buffer, 0, read);
            }
            output = bytes.toString(StandardCharsets.US_ASCII);
        }
        finally
        {
            for (int fd : message.fds())
            {
                sockets.close(fd);
            }
        }
        assertEquals(ALICE + "\n" + ALICE + "\n", output, "the worker's uid and gid, on its protocol pipe");
        SpawnerProtocol.Reply exit = SpawnerProtocol.decodeReply(receive().bytes());
        assertEquals(SpawnerProtocol.EXITED, exit.type(), () -> "reply " + exit);
        assertEquals(reply.pid(), exit.pid());
        assertEquals(0, exit.status(), "the worker exits at EOF on its stdin");
    }

    @Test
    public void testSpawnsAsTheTenantWithThePipesHandedOver() throws Exception
    {
        assertSpawns();
        assertSpawns();
    }

    @Test
    public void testRefusesWhatIsNotTheFrontsToAsk() throws Exception
    {
        byte[] good = SpawnerProtocol.encodeSpawn(1, alice(), home());
        List<Object[]> cases = new ArrayList<>();
        cases.add(new Object[]{good, new UnixSockets.Credentials(front.pid(), FRONT + 1, FRONT), "is not the front"});
        cases.add(new Object[]{good, new UnixSockets.Credentials(front.pid(), 0, 0), "is not the front"});
        cases.add(new Object[]{good, new UnixSockets.Credentials(front.pid(), FRONT, FRONT + 1), "is not the front"});
        cases.add(new Object[]{good, new UnixSockets.Credentials(1, FRONT, FRONT), "is not the front"});
        cases.add(new Object[]{rawSpawn(home(), encoded("0", "41001", "41001"), Map.of()), front, "uid 0"});
        cases.add(new Object[]{rawSpawn(home(), encoded("41001", "0", "41001"), Map.of()), front, "gid 0"});
        cases.add(new Object[]{rawSpawn(home(), encoded("41001", "41001", "0,41001"), Map.of()), front, "group 0"});
        cases.add(new Object[]{rawSpawn(home(), encoded(Integer.toString(FRONT), "41001", "41001"), Map.of()), front, "front's"});
        cases.add(new Object[]{rawSpawn(home(), encoded("41001", Integer.toString(FRONT), Integer.toString(FRONT)), Map.of()), front, "front's"});
        cases.add(new Object[]{rawSpawn(home(), encoded("41001", "41001", "41001," + FRONT), Map.of()), front, "front's"});
        cases.add(new Object[]{rawSpawn(home(), encoded("40999", "41001", "41001"), Map.of()), front, "out of " + MIN_ID + ".." + MAX_ID});
        cases.add(new Object[]{rawSpawn(home(), encoded("41001", "41101", "41101"), Map.of()), front, "out of " + MIN_ID + ".." + MAX_ID});
        cases.add(new Object[]{rawSpawn(home(), encoded("4294967295", "41001", "41001"), Map.of()), front, "4294967295"});
        cases.add(new Object[]{rawSpawn(home(), encoded("41001", "41001", "41001"), Map.of("LD_PRELOAD", "/tmp/x.so")), front, "LD_PRELOAD"});
        cases.add(new Object[]{rawSpawn(home(), encoded("41001", "41001", "41001"), Map.of("A=B", "x")), front, "A=B"});
        cases.add(new Object[]{rawSpawn("/tmp", encoded("41001", "41001", "41001"), Map.of()), front, "HOME /tmp is not vhost 'alice''s"});
        cases.add(new Object[]{rawSpawn(work + "/vhost-alice/../vhost-alice", encoded("41001", "41001", "41001"), Map.of()), front, "HOME"});
        cases.add(new Object[]{rawSpawn(work + "/vhost-bob", encoded("41001", "41001", "41001"), Map.of()), front, "is not vhost 'alice''s"});
        cases.add(new Object[]{rawSpawn(work.toString(), encoded("41001", "41001", "41001"), Map.of()), front, "HOME"});
        cases.add(new Object[]{new byte[0], front, "empty"});
        cases.add(new Object[]{new byte[]{9, 1, 0, 0, 0, 1}, front, "version"});
        cases.add(new Object[]{new byte[]{SpawnerProtocol.VERSION, 9, 0, 0, 0, 1}, front, "type"});
        cases.add(new Object[]{Arrays.copyOf(good, good.length - 1), front, ""});
        cases.add(new Object[]{Arrays.copyOf(good, good.length + 1), front, "after the end"});
        cases.add(new Object[]{new byte[SpawnerProtocol.MAX_MESSAGE + 1], front, "longer than"});
        cases.add(new Object[]{new byte[100 * 1024], front, "longer than"});
        cases.add(new Object[]{SpawnerProtocol.encodeSignal(3, 1, SpawnerProtocol.SIGKILL), front, "no live worker"});
        cases.add(new Object[]{SpawnerProtocol.encodeSignal(3, ProcessHandle.current().pid(), SpawnerProtocol.SIGTERM), front, "no live worker"});
        cases.add(new Object[]{SpawnerProtocol.encodeSignal(3, spawner, 2), front, "only SIGTERM and SIGKILL"});
        for (Object[] refused : cases)
        {
            assertRefused((byte[])refused[0], (UnixSockets.Credentials)refused[1], (String)refused[2]);
            assertSpawns();
        }
    }

    @Test
    public void testOpensAndRotatesLogsInADirectoryTheRootFrontAllowed() throws Exception
    {
        Path logs = logDirectory().resolve("tenants");
        // Missing: the spawner makes it, in a directory only root may write.
        allowAsRoot(logs);
        assertTrue(Files.isDirectory(logs));
        Path log = logs.resolve("alice.log");
        writeAndClose(logRequest(SpawnerProtocol.OPEN_LOG, log, ALICE), "first\n");
        assertEquals("first\n", Files.readString(log));
        assertEquals("rw-r-----", PosixFilePermissions.toString(Files.getPosixFilePermissions(log)));
        assertEquals(0, Files.getAttribute(log, "unix:uid"));
        assertEquals(ALICE, Files.getAttribute(log, "unix:gid"));
        writeAndClose(logRequest(SpawnerProtocol.OPEN_LOG, log, ALICE), "second\n");
        assertEquals("first\nsecond\n", Files.readString(log), "appended");

        writeAndClose(logRequest(SpawnerProtocol.ROTATE_LOG, log, ALICE), "third\n");
        assertEquals("first\nsecond\n", Files.readString(logs.resolve("alice.log.1")));
        assertEquals("third\n", Files.readString(log));
        assertEquals(ALICE, Files.getAttribute(log, "unix:gid"));
        writeAndClose(logRequest(SpawnerProtocol.ROTATE_LOG, log, ALICE), "fourth\n");
        assertEquals("third\n", Files.readString(logs.resolve("alice.log.1")), "the old .1 replaced");
        assertEquals("fourth\n", Files.readString(log));
        assertSpawns();
    }

    @Test
    public void testRefusesLogRequestsOutsideWhatIsAllowed() throws Exception
    {
        Path logs = logDirectory();
        allowAsRoot(logs);
        // A system directory and its file, not allowed.
        Path etc = Files.createDirectory(root.resolve("etc"));
        Path passwd = Files.writeString(etc.resolve("passwd"), "root:x:0:0::/root:/bin/sh\n");
        Files.setPosixFilePermissions(passwd, PosixFilePermissions.fromString("rw-r--r--"));
        // In the allowed directory: a system file, a link to the system file, a hard link, a FIFO.
        Path system = Files.writeString(logs.resolve("auth.log"), "secret\n");
        Files.setPosixFilePermissions(system, PosixFilePermissions.fromString("rw-r-----"));
        Files.createSymbolicLink(logs.resolve("link.log"), passwd);
        Path tenantsFile = Files.writeString(root.resolve("hard-target"), "x\n");
        Files.setAttribute(tenantsFile, "unix:gid", ALICE);
        Files.createLink(logs.resolve("hard.log"), tenantsFile);
        assertEquals(0, new ProcessBuilder("mkfifo", logs.resolve("fifo.log").toString()).start().waitFor());
        Path bobLog = Files.writeString(logs.resolve("bob.log"), "bob\n");
        Files.setAttribute(bobLog, "unix:gid", ALICE + 1);
        Files.setPosixFilePermissions(bobLog, PosixFilePermissions.fromString("rw-r-----"));
        Files.writeString(logs.resolve("bob.log.1"), "system\n");
        // A directory a tenant owns, and a tenant's link to the allowed directory.
        Path tenantDirectory = Files.createDirectory(root.resolve("tenant"));
        Files.setAttribute(tenantDirectory, "unix:uid", ALICE);
        Path tenantLink = Files.createSymbolicLink(root.resolve("tenant-link"), logs);
        Files.setAttribute(tenantLink, "unix:uid", ALICE, java.nio.file.LinkOption.NOFOLLOW_LINKS);
        Path rootLink = Files.createSymbolicLink(root.resolve("root-link"), logs);

        List<Object[]> cases = new ArrayList<>();
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, passwd.toString(), ALICE), front, "is not a log directory allowed"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/../etc/passwd", ALICE), front, "not an absolute, normal path"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "//alice.log", ALICE), front, "not an absolute, normal path"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, "alice.log", ALICE), front, "not an absolute, normal path"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/sub/alice.log", ALICE), front, "is not a log directory allowed"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, rootLink + "/alice.log", ALICE), front, "is not a log directory allowed"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, system.toString(), ALICE), front, "its group 0 is no tenant's"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/link.log", ALICE), front, "ELOOP"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/hard.log", ALICE), front, "2 links"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/fifo.log", ALICE), front, "fifo.log"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.ROTATE_LOG, bobLog.toString(), ALICE), front, "bob.log.1 refused: its group 0"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/.hidden", ALICE), front, "starting with '.'"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/a b.log", ALICE), front, "a name with ' '"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/alice.log", 0), front, "log group 0 refused"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/alice.log", FRONT), front, "is the front's"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/alice.log", MAX_ID + 1), front, "out of " + MIN_ID + ".." + MAX_ID});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/alice.log", ALICE), new UnixSockets.Credentials(front.pid(), ALICE, ALICE), "is not the front"});
        cases.add(new Object[]{SpawnerProtocol.encodeLogRequest(3, SpawnerProtocol.OPEN_LOG, logs + "/alice.log", ALICE), new UnixSockets.Credentials(1, 0, 0), "is not the front"});
        // Directories: only the front as root allows one, and only a trusted one.
        cases.add(new Object[]{SpawnerProtocol.encodeAllowLogDirectory(3, etc.toString()), front, "allowed only by the front while root, before its drop"});
        cases.add(new Object[]{SpawnerProtocol.encodeAllowLogDirectory(3, etc.toString()), new UnixSockets.Credentials(1, 0, 0), "is not the front"});
        cases.add(new Object[]{SpawnerProtocol.encodeAllowLogDirectory(3, tenantDirectory.toString()), rootFront(), "owned by uid " + ALICE});
        cases.add(new Object[]{SpawnerProtocol.encodeAllowLogDirectory(3, tenantDirectory + "/logs"), rootFront(), "owned by uid " + ALICE});
        cases.add(new Object[]{SpawnerProtocol.encodeAllowLogDirectory(3, tenantLink.toString()), rootFront(), "owned by uid " + ALICE});
        cases.add(new Object[]{SpawnerProtocol.encodeAllowLogDirectory(3, "relative/logs"), rootFront(), "not an absolute, normal path"});
        // The root front may allow, but not spawn.
        cases.add(new Object[]{SpawnerProtocol.encodeSpawn(3, alice(), home()), rootFront(), "is not the front"});
        for (Object[] refused : cases)
        {
            assertRefused((byte[])refused[0], (UnixSockets.Credentials)refused[1], (String)refused[2]);
            assertLogOpens();
        }
        // Nothing was changed, opened for a tenant or made.
        assertEquals("root:x:0:0::/root:/bin/sh\n", Files.readString(passwd));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(passwd)));
        assertEquals(0, Files.getAttribute(passwd, "unix:gid"));
        assertEquals("secret\n", Files.readString(system));
        assertEquals(0, Files.getAttribute(system, "unix:gid"));
        assertEquals("bob\n", Files.readString(bobLog), "not rotated");
        assertEquals("system\n", Files.readString(logs.resolve("bob.log.1")));
        assertTrue(!Files.exists(tenantDirectory.resolve("logs")), "nothing made in a tenant's directory");
        assertTrue(!Files.exists(logs.resolve("sub")));
        assertSpawns();
    }

    @Test
    public void testFuzzedRequestsAreRefused() throws Exception
    {
        long seed = Long.getLong("itk.fuzz.seed", System.nanoTime());
        System.err.println("SpawnerTest fuzz seed: " + seed + " (rerun with -Ditk.fuzz.seed=" + seed + ")");
        Random random = new Random(seed);
        // A request that passes everything but its HOME, which no mutation below can turn into an existing one.
        byte[] base = SpawnerProtocol.encodeSpawn(5, alice(), work.resolve("vhost-missing-home").toString());
        // Log requests: no log directory is allowed in this test, and the front, dropped, may allow none.
        byte[] openLog = SpawnerProtocol.encodeLogRequest(6, SpawnerProtocol.OPEN_LOG, work.resolve("alice.log").toString(), ALICE);
        byte[] rotateLog = SpawnerProtocol.encodeLogRequest(7, SpawnerProtocol.ROTATE_LOG, work.resolve("alice.log").toString(), ALICE);
        byte[] allow = SpawnerProtocol.encodeAllowLogDirectory(8, work.toString());
        List<byte[]> bases = List.of(base, openLog, rotateLog, allow);
        for (int i = 0; i < 400; i++)
        {
            byte[] mutated = mutate(bases.get(random.nextInt(bases.size())), random);
            sockets.sendAs(socket, mutated, front);
            SpawnerProtocol.Reply reply = SpawnerProtocol.decodeReply(receive().bytes());
            int round = i;
            assertEquals(SpawnerProtocol.FAILED, reply.type(), () -> "seed " + seed + " round " + round + ": " + reply + " for " + Arrays.toString(mutated));
            if (i % 100 == 99)
                assertSpawns();
        }
        assertSpawns();
    }

    private static byte[] mutate(byte[] base, Random random)
    {
        byte[] bytes;
        switch (random.nextInt(4))
        {
            case 0 -> bytes = Arrays.copyOf(base, random.nextInt(base.length));
            case 1 ->
            {
                bytes = Arrays.copyOf(base, base.length + 1 + random.nextInt(64));
                for (int i = base.length; i < bytes.length; i++)
                {
                    bytes[i] = (byte)random.nextInt(256);
                }
            }
            default ->
            {
                bytes = base.clone();
                int flips = 1 + random.nextInt(4);
                for (int i = 0; i < flips; i++)
                {
                    bytes[random.nextInt(bytes.length)] = (byte)random.nextInt(256);
                }
            }
        }
        return bytes;
    }

    @Test
    public void testProtocolRoundTrip()
    {
        WorkerArguments arguments = alice();
        Object decoded = SpawnerProtocol.decodeRequest(SpawnerProtocol.encodeSpawn(9, arguments, "/w/vhost-alice"));
        SpawnerProtocol.Spawn spawn = (SpawnerProtocol.Spawn)decoded;
        assertEquals(9, spawn.id());
        assertEquals("/w/vhost-alice", spawn.workDirectory());
        assertEquals(arguments.encode(), spawn.arguments().encode());
        assertEquals(arguments.jvmOptions(), spawn.arguments().jvmOptions());
        assertEquals(arguments.environment(), spawn.arguments().environment());
        assertArrayEquals(arguments.identity().groups(), spawn.arguments().identity().groups());

        SpawnerProtocol.LogRequest log = (SpawnerProtocol.LogRequest)SpawnerProtocol.decodeRequest(SpawnerProtocol.encodeLogRequest(4, SpawnerProtocol.ROTATE_LOG, "/var/log/itk/alice.log", 41001));
        assertEquals(new SpawnerProtocol.LogRequest(4, SpawnerProtocol.ROTATE_LOG, "/var/log/itk/alice.log", 41001), log);
        assertEquals(new SpawnerProtocol.AllowLogDirectory(5, "/var/log/itk"), SpawnerProtocol.decodeRequest(SpawnerProtocol.encodeAllowLogDirectory(5, "/var/log/itk")));
        SpawnerProtocol.Reply opened = SpawnerProtocol.decodeReply(SpawnerProtocol.encodeLogOpened(6));
        assertEquals(SpawnerProtocol.LOG_OPENED, opened.type());
        assertEquals(6, opened.id());
    }
}
