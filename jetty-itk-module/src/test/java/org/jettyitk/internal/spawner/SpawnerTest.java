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
    public void testFuzzedRequestsAreRefused() throws Exception
    {
        long seed = Long.getLong("itk.fuzz.seed", System.nanoTime());
        System.err.println("SpawnerTest fuzz seed: " + seed + " (rerun with -Ditk.fuzz.seed=" + seed + ")");
        Random random = new Random(seed);
        // A request that passes everything but its HOME, which no mutation below can turn into an existing one.
        byte[] base = SpawnerProtocol.encodeSpawn(5, alice(), work.resolve("vhost-missing-home").toString());
        for (int i = 0; i < 400; i++)
        {
            byte[] mutated = mutate(base, random);
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
    }
}
