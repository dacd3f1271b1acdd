package org.jettyitk.internal.launch;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.wire.ProcessLimits;
import org.jettyitk.internal.wire.WorkerArguments;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>What {@link ProcessWorkerLauncher} guarantees before the worker's JVM even starts: a session and process
 * group of its own, the vhost's environment only after the drop, the worker's arguments off its command line, no
 * worker at all without {@code setpriv} as root. The tests run a shell script in place of {@code java}, as the
 * tenant's uid, that reports what it sees.</p>
 */
public class ProcessWorkerLauncherTest
{
    private static final int ALICE = 41001;
    private static final int BOB = 41002;
    private static final long TIMEOUT_SECONDS = 30;

    private Path root;
    private Process process;

    @BeforeEach
    public void setUp() throws IOException
    {
        root = Files.createTempDirectory("itk-launcher-");
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @AfterEach
    public void tearDown() throws Exception
    {
        if (process != null)
        {
            process.destroyForcibly();
            process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        }
        try (Stream<Path> tree = Files.walk(root))
        {
            for (Path path : tree.sorted(Comparator.reverseOrder()).toList())
            {
                Files.deleteIfExists(path);
            }
        }
    }

    private static void assumeRoot()
    {
        Assumptions.assumeTrue(isRoot(), "needs root: the launched process runs as numeric uid 41001");
    }

    private static boolean isRoot()
    {
        try
        {
            return org.jettyitk.internal.posix.Posix.get().geteuid() == 0;
        }
        catch (IOException x)
        {
            return false;
        }
    }

    /**
     * @return a directory owned by alice, where her processes report
     */
    private Path aliceDirectory(String name) throws IOException
    {
        Path dir = Files.createDirectories(root.resolve(name));
        Files.setAttribute(dir, "unix:uid", ALICE);
        Files.setAttribute(dir, "unix:gid", ALICE);
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        return dir;
    }

    /**
     * @return a root-owned script, run in place of {@code java}, with the given body
     */
    private Path fakeJava(String body) throws IOException
    {
        Path script = root.resolve("java");
        Files.writeString(script, "#!/bin/sh\n" + body + "\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        return script;
    }

    private Process launch(Path java, Map<String, String> environment, String app) throws IOException
    {
        Path home = aliceDirectory("home");
        Files.createDirectories(home.resolve("tmp"));
        WorkerArguments arguments = new WorkerArguments("alice", new Identity("alice", ALICE, ALICE, new int[]{ALICE}), app, null, 027,
            ProcessLimits.NONE, null, environment);
        process = new ProcessWorkerLauncher(java.toString(), "/nonexistent.jar", List.of(), true).launch(arguments, home);
        return process;
    }

    private static String awaitFile(Path file) throws IOException
    {
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> Files.exists(file));
        return Files.readString(file);
    }

    /**
     * @return fields of {@code /proc/PID/stat} after the command, from 1: 1 pid, 5 pgrp, 6 session, 7 tty_nr
     */
    private static String[] stat(String content)
    {
        String afterCommand = content.substring(content.lastIndexOf(')') + 2);
        String[] rest = afterCommand.trim().split(" ");
        String[] fields = new String[rest.length + 3];
        fields[1] = content.substring(0, content.indexOf(' '));
        System.arraycopy(rest, 0, fields, 3, rest.length);
        return fields;
    }

    @Test
    public void testWorkerLeadsASessionAndGroupOfItsOwn() throws Exception
    {
        assumeRoot();
        Path report = aliceDirectory("report");
        Path java = fakeJava("cat /proc/self/stat > \"$REPORT/stat.tmp\"; mv \"$REPORT/stat.tmp\" \"$REPORT/stat\"; exec sleep 300");
        launch(java, Map.of("REPORT", report.toString()), "/srv/alice");

        // cat is a child of the worker: its group and session are the worker's.
        String[] worker = stat(awaitFile(report.resolve("stat")));
        String[] front = stat(Files.readString(Path.of("/proc/self/stat")));
        assertEquals(Long.toString(process.pid()), worker[5], "the worker leads its process group");
        assertEquals(Long.toString(process.pid()), worker[6], "the worker leads its session");
        assertEquals("0", worker[7], "the worker has no controlling terminal");
        assertNotEquals(front[5], worker[5]);
        assertNotEquals(front[6], worker[6]);
    }

    @Test
    public void testKillSignalsTheWorkersProcessGroup() throws Exception
    {
        assumeRoot();
        Path report = aliceDirectory("report");
        Path java = fakeJava("sleep 300 & echo $! > \"$REPORT/child.tmp\"; mv \"$REPORT/child.tmp\" \"$REPORT/child\"; exec sleep 300");
        launch(java, Map.of("REPORT", report.toString()), "/srv/alice");
        long child = Long.parseLong(awaitFile(report.resolve("child")).trim());
        assertTrue(ProcessHandle.of(child).isPresent());

        process.destroyForcibly();
        assertTrue(process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        try
        {
            await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> ProcessHandle.of(child).map(p -> !p.isAlive()).orElse(true));
        }
        finally
        {
            ProcessHandle.of(child).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    @Test
    public void testWhatTheWorkerLeftIsKilledWhenItExits() throws Exception
    {
        assumeRoot();
        Path report = aliceDirectory("report");
        Path java = fakeJava("sleep 300 & echo $! > \"$REPORT/child.tmp\"; mv \"$REPORT/child.tmp\" \"$REPORT/child\"; exit 0");
        launch(java, Map.of("REPORT", report.toString()), "/srv/alice");
        long child = Long.parseLong(awaitFile(report.resolve("child")).trim());

        assertTrue(process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue());
        try
        {
            await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> ProcessHandle.of(child).map(p -> !p.isAlive()).orElse(true));
        }
        finally
        {
            ProcessHandle.of(child).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    /**
     * <p>The attack: a vhost's {@code LD_PRELOAD} names a library that records the uid of every process that
     * loads it. {@code setsid} and {@code setpriv} run as root: they must never load it; the tenant's processes,
     * after the drop, do (the vhost's variables reach them).</p>
     */
    @Test
    public void testVhostEnvironmentNeverReachesAPrivilegedProcess() throws Exception
    {
        assumeRoot();
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/cc")), "needs a C compiler (/usr/bin/cc) to build the spying library");
        Path records = Files.createDirectories(root.resolve("records"));
        Files.setPosixFilePermissions(records, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path record = records.resolve("loaded");
        Path library = compileRecorder(record);
        Path report = aliceDirectory("report");
        Path java = fakeJava("echo \"$MARK\" > \"$REPORT/mark.tmp\"; mv \"$REPORT/mark.tmp\" \"$REPORT/mark\"; exec sleep 300");

        launch(java, Map.of("LD_PRELOAD", library.toString(), "MARK", "vhost variable", "REPORT", report.toString()), "/srv/alice");

        assertEquals("vhost variable\n", awaitFile(report.resolve("mark")));
        List<String> loads = Files.readAllLines(record);
        assertFalse(loads.isEmpty(), "the tenant's processes never loaded the library: the vhost's LD_PRELOAD did not reach them");
        for (String load : loads)
        {
            assertEquals("uid=" + ALICE + " euid=" + ALICE, load.substring(0, load.indexOf(" exe=")), () -> "loaded with privileges: " + loads);
        }
    }

    private Path compileRecorder(Path record) throws Exception
    {
        Path source = root.resolve("recorder.c");
        Files.writeString(source, """
            #include <fcntl.h>
            #include <stdio.h>
            #include <unistd.h>
            __attribute__((constructor)) static void record(void)
            {
                char exe[256];
                ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
                exe[n < 0 ? 0 : n] = 0;
                char line[512];
                int length = snprintf(line, sizeof line, "uid=%d euid=%d exe=%s\\n", (int)getuid(), (int)geteuid(), exe);
                int fd = open(RECORD, O_WRONLY | O_APPEND | O_CREAT, 0666);
                if (fd >= 0)
                {
                    write(fd, line, length);
                    close(fd);
                }
            }
            """);
        Path library = root.resolve("librecorder.so");
        Process cc = new ProcessBuilder("/usr/bin/cc", "-shared", "-fPIC", "-DRECORD=\"" + record + "\"", "-o", library.toString(), source.toString())
            .redirectErrorStream(true).start();
        String output = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(cc.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        assertEquals(0, cc.exitValue(), output);
        Files.setPosixFilePermissions(library, PosixFilePermissions.fromString("rwxr-xr-x"));
        return library;
    }

    /**
     * <p>The attack: another tenant reads the worker's command line, world-readable in {@code /proc}, to learn where
     * its app is. The arguments travel in the environment, which only the worker's uid and root may read.</p>
     */
    @Test
    public void testAnotherUidLearnsNeitherAppNorOptionsOfAWorker() throws Exception
    {
        assumeRoot();
        Path report = aliceDirectory("report");
        Path java = fakeJava("touch \"$REPORT/started\"; sleep 300");
        String app = root.resolve("alice-secret-app.war").toString();
        Path home = aliceDirectory("home");
        Files.createDirectories(home.resolve("tmp"));
        WorkerArguments arguments = new WorkerArguments("alice", new Identity("alice", ALICE, ALICE, new int[]{ALICE}), app, "com.example.SecretHandler", 027,
            ProcessLimits.NONE, List.of("-Dsecret.token=alice-token"), Map.of("REPORT", report.toString()));
        process = new ProcessWorkerLauncher(java.toString(), "/nonexistent.jar", List.of(), true).launch(arguments, home);
        awaitFile(report.resolve("started"));

        String commandLine = readAs(BOB, "/proc/" + process.pid() + "/cmdline");
        assertTrue(commandLine.contains("WorkerMain"), commandLine);
        for (String secret : List.of("alice-secret-app", "SecretHandler", "alice-token"))
        {
            assertFalse(commandLine.contains(secret), () -> secret + " on the command line: " + commandLine.replace('\0', ' '));
        }
        assertThrows(IOException.class, () -> readAs(BOB, "/proc/" + process.pid() + "/environ"));
        // The worker itself finds them.
        String environment = Files.readString(Path.of("/proc/" + process.pid() + "/environ"));
        assertTrue(environment.contains(app), environment);
        assertTrue(environment.contains("-Dsecret.token=alice-token"), environment);
    }

    /**
     * @return the file's content, read by {@code cat} as the uid
     * @throws IOException if it could not
     */
    private static String readAs(int uid, String file) throws Exception
    {
        Process cat = new ProcessBuilder(ProcessWorkerLauncher.SETPRIV, "--reuid=" + uid, "--regid=" + uid, "--clear-groups", "cat", file).start();
        byte[] content = cat.getInputStream().readAllBytes();
        String error = new String(cat.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(cat.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        if (cat.exitValue() != 0)
            throw new IOException("uid " + uid + " cannot read " + file + ": " + error);
        return new String(content, StandardCharsets.UTF_8);
    }

    @Test
    public void testNoSetprivNoWorkers()
    {
        Path missing = root.resolve("no-such-setpriv");
        for (boolean isRoot : new boolean[]{true, false})
        {
            IllegalStateException x = assertThrows(IllegalStateException.class, () -> new ProcessWorkerLauncher("java", "cp", List.of(), true, null,
                missing, Path.of(ProcessWorkerLauncher.SETSID), isRoot));
            assertTrue(x.getMessage().contains(missing.toString()) && x.getMessage().contains("util-linux"), x.getMessage());
        }
    }

    @Test
    public void testNoSetsidNoWorkers()
    {
        Path missing = root.resolve("no-such-setsid");
        IllegalStateException x = assertThrows(IllegalStateException.class, () -> new ProcessWorkerLauncher("java", "cp", List.of(), true, null,
            Path.of(ProcessWorkerLauncher.SETPRIV), missing, true));
        assertTrue(x.getMessage().contains(missing.toString()) && x.getMessage().contains("util-linux"), x.getMessage());
    }

    @Test
    public void testWithoutSetprivOnlyWhenNotRoot()
    {
        Path missing = root.resolve("no-such-setpriv");
        IllegalStateException x = assertThrows(IllegalStateException.class, () -> new ProcessWorkerLauncher("java", "cp", List.of(), false, null,
            missing, Path.of(ProcessWorkerLauncher.SETSID), true));
        assertTrue(x.getMessage().contains("useSetpriv=false") && x.getMessage().contains("root"), x.getMessage());

        ProcessWorkerLauncher launcher = new ProcessWorkerLauncher("java", "cp", List.of(), false, null, missing, Path.of(ProcessWorkerLauncher.SETSID), false);
        assertFalse(launcher.isUseSetpriv());
        WorkerArguments arguments = new WorkerArguments("v", new Identity("u", 41001, 41001, new int[0]), "/srv/app", null, 027);
        List<String> command = launcher.newCommand(arguments, root);
        assertEquals(List.of(ProcessWorkerLauncher.SETSID, "--", "java"), command.subList(0, 3));
    }

    @Test
    public void testCheckEnvironmentRefusesLoaderAndJvmVariables()
    {
        for (String name : List.of("LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH",
            "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "TMPDIR", "JETTY_ITK_WORKER", "JETTY_ITK_ENV_X"))
        {
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> ProcessWorkerLauncher.checkEnvironment("alice", Map.of(name, "/tmp/x")));
            assertEquals("vhost 'alice': environment variable " + name + " refused: the dynamic loader, the C library or the JVM act on it before the app runs", x.getMessage());
        }
        for (String name : List.of("a.b", "1A", "A-B", "A B", "É"))
        {
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> ProcessWorkerLauncher.checkEnvironment("alice", Map.of(name, "v")));
            assertTrue(x.getMessage().startsWith("vhost 'alice': environment variable name '" + name + "' refused"), x.getMessage());
        }
        ProcessWorkerLauncher.checkEnvironment("alice", Map.of("DATABASE_URL", "jdbc:x", "LANG", "C.UTF-8", "_private", "1", "PATH", "/bin"));
    }

    @Test
    public void testExportScriptNamesEachVariableAndExecsItsArguments() throws Exception
    {
        Set<String> names = new LinkedHashSet<>(List.of("A", "B_2"));
        assertEquals("unset PWD; export A=\"$JETTY_ITK_ENV_A\"; unset JETTY_ITK_ENV_A; export B_2=\"$JETTY_ITK_ENV_B_2\"; unset JETTY_ITK_ENV_B_2; exec \"$@\"",
            ProcessWorkerLauncher.exportScript(names));
        assertThrows(IllegalArgumentException.class, () -> ProcessWorkerLauncher.exportScript(Set.of("A;B")));

        // Values are never shell code: the shell only copies them.
        ProcessBuilder shell = new ProcessBuilder(ProcessWorkerLauncher.SHELL, "-c", ProcessWorkerLauncher.exportScript(names), "test", "/usr/bin/env");
        shell.environment().clear();
        shell.environment().put("JETTY_ITK_ENV_A", "$(touch " + root.resolve("injected") + ") `x` \"q\" 'r'\nline");
        shell.environment().put("JETTY_ITK_ENV_B_2", "");
        Process env = shell.start();
        String output = new String(env.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(env.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS));
        assertTrue(output.contains("A=$(touch " + root.resolve("injected") + ") `x` \"q\" 'r'\nline\n"), output);
        assertTrue(output.contains("B_2=\n"), output);
        assertFalse(output.contains("JETTY_ITK_ENV_"), output);
        assertFalse(output.contains("PWD="), output);
        assertFalse(Files.exists(root.resolve("injected")));
    }

    @Test
    public void testJavaOptionsVariableQuotesForTheJavaLauncher()
    {
        assertEquals("\"-Xmx64m\" \"-Dx=a'b\" '-Dy=a\"b'", ProcessWorkerLauncher.javaOptionsVariable(List.of("-Xmx64m", "-Dx=a'b", "-Dy=a\"b")));
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> ProcessWorkerLauncher.javaOptionsVariable(List.of("-Dz=a'\"b")));
        assertEquals("JVM option with both kinds of quote: '-Dz=a'\"b'", x.getMessage());
    }
}
