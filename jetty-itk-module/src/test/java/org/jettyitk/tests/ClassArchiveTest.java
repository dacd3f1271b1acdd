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
import org.jettyitk.internal.front.WorkerClassArchive;
import org.jettyitk.internal.front.WorkerClassPath;
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
     * @return the test JVM's class path with this module's classes directory packed into a jar, in its place
     */
    private static String jarClassPath(Path root) throws IOException
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
