package org.jettyitk.tests;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.jettyitk.VirtualHost;
import org.jettyitk.internal.launch.ProcessWorkerLauncher;
import org.jettyitk.internal.launch.WorkerClassArchive;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static org.awaitility.Awaitility.await;
import static org.jettyitk.tests.ItkTestServer.ALICE;
import static org.jettyitk.tests.ItkTestServer.TIMEOUT_SECONDS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>How the front launches workers, seen from a whole front: what it refuses at start, and which pipes it writes
 * requests to.</p>
 */
public class LaunchPolicyTest
{
    private ItkTestServer front;

    @AfterEach
    public void stop() throws Exception
    {
        if (front != null)
            front.close();
    }

    private static String messages(Throwable failure)
    {
        StringBuilder messages = new StringBuilder();
        for (Throwable x = failure; x != null; x = x.getCause())
        {
            messages.append(x.getMessage()).append('\n');
        }
        return messages.toString();
    }

    @Test
    public void testLoaderVariableInAVhostEnvironmentFailsStart() throws Exception
    {
        front = new ItkTestServer();
        VirtualHost vhost = front.addTestApp("alice", ALICE);
        vhost.addEnvironment("LD_PRELOAD", front.root.resolve("alice/evil.so").toString());
        Exception x = assertThrows(Exception.class, front::start);
        assertTrue(messages(x).contains("vhost 'alice': environment variable LD_PRELOAD refused"), () -> messages(x));
    }

    @Test
    public void testStartFailedByAVhostLeavesNoClassArchiveTraining() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: the work directory must be root's");
        front = new ItkTestServer();
        Path work = front.root.resolve("work");
        front.itk.setWorkDirectory(work);
        front.itk.setWorkerClassArchive(true);
        // Fails start once the launching is set up: the vhost's log file is in a directory anybody may write.
        Path unsafe = Files.createDirectories(front.root.resolve("unsafe"));
        Files.setPosixFilePermissions(unsafe, PosixFilePermissions.fromString("rwxrwxrwx"));
        front.addTestApp("alice", ALICE).setLogFile(unsafe.resolve("alice.log").toString());

        Exception x = assertThrows(Exception.class, front::start);

        assertTrue(messages(x).contains("vhost 'alice': log file"), () -> messages(x));
        // The training JVM was stopped and its directory deleted, as a stop does.
        try (Stream<Path> entries = Files.list(work))
        {
            assertEquals(List.of(), entries.map(Path::getFileName).map(Path::toString).filter(name -> name.startsWith("class-archive-")).toList());
        }
        assertEquals(List.of(), ProcessHandle.current().descendants().filter(p -> p.isAlive() && p.info().commandLine().orElse("").contains(WorkerClassArchive.TRAINING_CLASS)).toList());
    }

    @Test
    public void testLoaderVariableInAVhostAddedWhileRunningIsRefused() throws Exception
    {
        front = new ItkTestServer();
        front.addTestApp("bob", ItkTestServer.BOB);
        front.start();
        VirtualHost alice = new VirtualHost("alice");
        alice.setHostNames("alice.test");
        alice.setUser(Integer.toString(ALICE));
        alice.setGroup(Integer.toString(ALICE));
        alice.setApp(front.tenantDirectory("alice", ALICE).toString());
        alice.addEnvironment("GCONV_PATH", front.root.resolve("alice").toString());
        IllegalStateException x = assertThrows(IllegalStateException.class, () -> front.itk.addVirtualHost(alice));
        assertEquals("vhost 'alice': environment variable GCONV_PATH refused: the dynamic loader, the C library or the JVM act on it before the app runs", x.getMessage());
        assertEquals(List.of("bob"), front.itk.getVirtualHosts().stream().map(VirtualHost::getName).toList());
    }

    @Test
    public void testRootFrontWithoutSetprivDoesNotStart() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: only a root front must refuse to launch without setpriv");
        front = new ItkTestServer();
        front.addTestApp("alice", ALICE);
        front.itk.setUseSetpriv(false);
        Exception x = assertThrows(Exception.class, front::start);
        assertTrue(messages(x).contains("useSetpriv=false while the front runs as root"), () -> messages(x));
    }

    /**
     * <p>The attack: the tenant replaces its stdin by a FIFO of its own before the front opens the worker's
     * {@code /proc/PID/fd/0} as root, and receives what the front writes there. The front writes to its own end of
     * the pipe it made, whatever the worker's descriptors have become.</p>
     */
    @Test
    public void testFrontWritesToItsOwnPipeWhateverTheWorkerDidToItsDescriptors() throws Exception
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: the worker runs as numeric uid 41001");
        front = new ItkTestServer();
        front.addTestApp("alice", ALICE);
        Path report = front.tenantDirectory("report", ALICE);
        Path java = front.root.resolve("java");
        // In place of java, as the tenant: keep the real stdin as fd 3, make a FIFO fd 0 (and 4: a background job's
        // stdin is /dev/null), and record what each gets.
        Files.writeString(java, """
            #!/bin/sh
            R=%s
            mkfifo "$R/fifo"
            exec 3<&0 0<>"$R/fifo" 4<&0
            (head -c 24 <&3 > "$R/pipe.tmp"; mv "$R/pipe.tmp" "$R/pipe") &
            (head -c 24 <&4 > "$R/fifo.tmp"; mv "$R/fifo.tmp" "$R/fifo-got") &
            touch "$R/swapped"
            wait
            """.formatted(report));
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
        ProcessWorkerLauncher launcher = new ProcessWorkerLauncher(java.toString(), "/nonexistent.jar", List.of(), true);
        front.itk.setWorkerLauncher((arguments, directory) ->
        {
            Process process = launcher.launch(arguments, directory);
            // The front sees the worker only once the tenant has swapped its descriptors.
            await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> Files.exists(report.resolve("swapped")));
            return process;
        });
        front.start();

        // Never ready: the request only makes the front spawn the worker and write its preface.
        front.request(front.http1, "alice.test", "/").send(result -> {});
        await().atMost(TIMEOUT_SECONDS, TimeUnit.SECONDS).until(() -> Files.exists(report.resolve("pipe")) || Files.exists(report.resolve("fifo-got")));
        assertFalse(Files.exists(report.resolve("fifo-got")), () -> "the front wrote into the tenant's FIFO: " + read(report.resolve("fifo-got")));
        assertEquals("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", read(report.resolve("pipe")));
    }

    private static String read(Path file)
    {
        try
        {
            return Files.readString(file);
        }
        catch (java.io.IOException x)
        {
            return x.toString();
        }
    }
}
