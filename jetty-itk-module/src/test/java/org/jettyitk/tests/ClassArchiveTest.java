package org.jettyitk.tests;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;

import org.eclipse.jetty.client.ContentResponse;
import org.jettyitk.ItkHandler;
import org.jettyitk.internal.launch.WorkerClassArchive;
import org.jettyitk.internal.launch.WorkerClassPath;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>The workers' class-data-sharing archive: the front trains it from the jars of the class path, writes it where
 * no tenant can change it, and a worker spawned once it is ready maps it.</p>
 */
public class ClassArchiveTest
{
    private ItkTestServer front;

    @BeforeEach
    public void assumeRoot()
    {
        Assumptions.assumeTrue(ItkTestServer.isRoot(), "needs root: the worker runs as numeric uid 41001 and its files are chowned to it");
    }

    @AfterEach
    public void stop() throws Exception
    {
        if (front != null)
            front.close();
    }

    /**
     * <p>As in a Jetty base, where jetty-itk is a jar and {@code resources/} a directory: the build's
     * {@code target/test-classes} (which holds {@link TestApp}) stays a directory, before the jars.</p>
     */
    @Test
    public void testWorkerMapsTheArchiveTrainedFromTheJars() throws Exception
    {
        front = new ItkTestServer();
        front.itk.setWorkerClassArchive(true);
        front.itk.setWorkerClassPath(WorkerClassPath.readableByAll(jarClassPath(front.root), front.root));
        front.addTestApp("app", ItkTestServer.ALICE);
        front.start();

        WorkerClassArchive classArchive = front.itk.getActiveClassArchive();
        assertNotNull(classArchive, "no archive trained");
        Path archive = classArchive.ready().get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS);
        assertNotNull(archive, "the training failed: see training.log beside the archive");
        assertEquals(0, (int)Files.getAttribute(archive, "unix:uid"));
        assertEquals("rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(archive)));
        assertEquals("rwx--x--x", PosixFilePermissions.toString(Files.getPosixFilePermissions(archive.getParent())));

        ContentResponse response = front.http1.newRequest("127.0.0.1", front.connector.getLocalPort()).headers(h -> h.put("Host", "app.test")).path("/whoami").send();
        assertEquals(200, response.getStatus(), response::getContentAsString);

        long pid = front.itk.getWorkerPools().get(0).getWorkers().get(0).getPid();
        List<String> command = List.of(Files.readString(Path.of("/proc/" + pid + "/cmdline"), StandardCharsets.UTF_8).split("\0"));
        assertTrue(command.contains("-XX:SharedArchiveFile=" + archive), command::toString);
        // The archive holds classes of the jars only: the directories go after them, so the jars stay a prefix.
        List<String> classPath = List.of(command.get(command.indexOf("-cp") + 1).split(File.pathSeparator));
        int firstDirectory = 0;
        while (firstDirectory < classPath.size() && !Files.isDirectory(Path.of(classPath.get(firstDirectory))))
        {
            firstDirectory++;
        }
        assertTrue(firstDirectory > 0 && firstDirectory < classPath.size(), () -> "jars and directories expected: " + classPath);
        for (String entry : classPath.subList(firstDirectory, classPath.size()))
        {
            assertTrue(Files.isDirectory(Path.of(entry)), () -> "a jar after the directories: " + classPath);
        }
        assertTrue(Files.readString(Path.of("/proc/" + pid + "/maps")).contains(archive.toString()), "the worker did not map the archive " + archive);

        front.close();
        front = null;
        assertFalse(Files.exists(archive.getParent()), "the archive outlived the handler");
    }

    /**
     * <p>The training runs as root: nothing on its way may be a tenant's. Its temporary directory (where jffi
     * extracts the native library it loads), its home and its working directory are in the archive's directory,
     * which only root can write, and it runs in a session of its own, with no terminal.</p>
     */
    @Test
    public void testTrainingRunsInRootOnlyDirectoriesAndASessionOfItsOwn() throws Exception
    {
        front = new ItkTestServer();
        front.itk.setWorkerClassArchive(true);
        front.itk.setWorkerClassPath(WorkerClassPath.readableByAll(jarClassPath(front.root), front.root));
        front.addTestApp("app", ItkTestServer.ALICE);
        front.start();
        WorkerClassArchive classArchive = front.itk.getActiveClassArchive();
        assertNotNull(classArchive, "no archive trained");

        // The training takes seconds: look at its JVM while it runs.
        ProcessHandle training = null;
        while (training == null && !classArchive.ready().isDone())
        {
            training = ProcessHandle.current().descendants()
                .filter(p -> read(p, "cmdline").contains("WorkerTraining") && isJava(p))
                .findFirst().orElse(null);
        }
        assertNotNull(training, "the training ended before it could be looked at");
        List<String> command = List.of(read(training, "cmdline").split("\0"));
        String environment = read(training, "environ");
        Path cwd = Files.readSymbolicLink(Path.of("/proc", Long.toString(training.pid()), "cwd"));
        String[] stat = read(training, "stat").substring(read(training, "stat").lastIndexOf(')') + 2).split(" ");
        assertTrue(training.isAlive(), "the training ended while it was looked at");

        Path tmp = Path.of(command.stream().filter(a -> a.startsWith("-Djava.io.tmpdir=")).map(a -> a.substring("-Djava.io.tmpdir=".length()))
            .reduce((a, b) -> b).orElse(System.getProperty("java.io.tmpdir")));
        assertOnlyRootWrites(tmp);
        assertOnlyRootWrites(cwd);
        for (String variable : environment.split("\0"))
        {
            if (variable.startsWith("HOME=") || variable.startsWith("TMPDIR="))
                assertOnlyRootWrites(Path.of(variable.substring(variable.indexOf('=') + 1)));
        }
        assertEquals(Long.toString(training.pid()), stat[3], "the training leads a session of its own");
        assertEquals("0", stat[4], "the training has no controlling terminal");
        assertNotNull(classArchive.ready().get(ItkTestServer.TIMEOUT_SECONDS, TimeUnit.SECONDS), "the training failed: see training.log beside the archive");
    }

    private static boolean isJava(ProcessHandle process)
    {
        try
        {
            return Files.readSymbolicLink(Path.of("/proc", Long.toString(process.pid()), "exe")).getFileName().toString().equals("java");
        }
        catch (IOException x)
        {
            return false;
        }
    }

    private static String read(ProcessHandle process, String file)
    {
        try
        {
            return Files.readString(Path.of("/proc", Long.toString(process.pid()), file), StandardCharsets.ISO_8859_1);
        }
        catch (IOException x)
        {
            return "";
        }
    }

    /**
     * Asserts that the directory is root's and only root may write it, and that no directory on its way lets
     * another user replace it: each is root's, and writable by others only with the sticky bit.
     */
    private static void assertOnlyRootWrites(Path directory) throws IOException
    {
        Path real = directory.toRealPath();
        assertEquals(0, (int)Files.getAttribute(real, "unix:uid"), () -> real + " is not root's");
        assertEquals(0, (int)Files.getAttribute(real, "unix:mode") & 022, () -> real + " is writable by others than root");
        for (Path parent = real.getParent(); parent != null; parent = parent.getParent())
        {
            Path path = parent;
            int mode = (int)Files.getAttribute(path, "unix:mode");
            assertEquals(0, (int)Files.getAttribute(path, "unix:uid"), () -> path + " is not root's");
            assertTrue((mode & 022) == 0 || (mode & 01000) != 0, () -> path + " lets others replace " + real);
        }
    }

    /**
     * @return the test JVM's class path with this module's classes directory packed into a jar, in its place
     */
    static String jarClassPath(Path root) throws IOException
    {
        List<String> entries = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator))
        {
            Path path = Path.of(entry);
            if (Files.exists(path.resolve(ItkHandler.class.getName().replace('.', '/') + ".class")))
                entries.add(pack(path, root.resolve("jetty-itk-classes.jar")).toString());
            else
                entries.add(entry);
        }
        return String.join(File.pathSeparator, entries);
    }

    private static Path pack(Path classes, Path jar) throws IOException
    {
        try (OutputStream out = Files.newOutputStream(jar); JarOutputStream jarOut = new JarOutputStream(out); Stream<Path> files = Files.walk(classes))
        {
            for (Path file : files.filter(Files::isRegularFile).sorted().toList())
            {
                jarOut.putNextEntry(new JarEntry(classes.relativize(file).toString().replace(File.separatorChar, '/')));
                Files.copy(file, jarOut);
                jarOut.closeEntry();
            }
        }
        return jar;
    }
}
