package org.jettyitk.internal.launch;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import org.jettyitk.internal.posix.TrustedFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The class path of the worker JVM: the front's own jars, which every tenant must be able to read and
 * none to write.</p>
 * <p>Root runs it too (the class-data training JVM), and every tenant's worker loads it: an entry is used only if
 * it, every directory of its real path and, for a directory, everything in it, is owned by root and writable by
 * no one else ({@link TrustedFiles}). An entry that is missing or not trusted is left out, with a WARN saying why.</p>
 * <p>An entry a tenant cannot reach (a jar under {@code /root/.m2}, mode 0700, in a build) is copied into
 * a directory the front creates with a random name, owned by the front and mode 0755: a tenant can read it
 * but not swap a jar that another tenant's worker would load. A copy never gets more permissions than its
 * original: a file only root may read stays so.</p>
 */
public final class WorkerClassPath
{
    private static final Logger LOG = LoggerFactory.getLogger(WorkerClassPath.class);
    private static final Set<PosixFilePermission> READ_ONLY_DIR = PosixFilePermissions.fromString("rwxr-xr-x");
    private static final Set<PosixFilePermission> READ_ONLY_FILE = PosixFilePermissions.fromString("rw-r--r--");

    private WorkerClassPath()
    {
    }

    /**
     * <p>The class path that loaded a class: {@code java.class.path} plus the URLs of every
     * {@link URLClassLoader} between that class's loader and the system loader. Under Jetty's
     * {@code start.jar} the former is only {@code start.jar} and the jars are in the latter.</p>
     *
     * @param type a class of the front, such as the handler
     * @return the entries, separated by {@link File#pathSeparator}
     */
    public static String ofLoader(Class<?> type)
    {
        Set<String> entries = new LinkedHashSet<>();
        List<String> fromLoaders = new ArrayList<>();
        for (ClassLoader loader = type.getClassLoader(); loader != null; loader = loader.getParent())
        {
            if (!(loader instanceof URLClassLoader urlLoader))
                continue;
            List<String> own = new ArrayList<>();
            for (URL url : urlLoader.getURLs())
            {
                if ("file".equals(url.getProtocol()))
                {
                    try
                    {
                        own.add(Path.of(url.toURI()).toString());
                    }
                    catch (URISyntaxException | IllegalArgumentException x)
                    {
                        LOG.debug("ignored class path URL {}", url, x);
                    }
                }
            }
            // Parents first, as the loaders delegate.
            fromLoaders.addAll(0, own);
        }
        for (String entry : System.getProperty("java.class.path", "").split(File.pathSeparator))
        {
            if (!entry.isEmpty())
                entries.add(entry);
        }
        entries.addAll(fromLoaders);
        return String.join(File.pathSeparator, entries);
    }

    /**
     * @param classPath a class path, entries separated by {@link File#pathSeparator}
     * @param stagingParent where to create the staging directory if one is needed
     * @return a class path every user can read, without the entries that are missing or not trusted (each logged)
     * @throws IOException if an entry could not be copied
     */
    public static String readableByAll(String classPath, Path stagingParent) throws IOException
    {
        List<String> result = new ArrayList<>();
        Path staging = null;
        int index = 0;
        for (String entry : classPath.split(File.pathSeparator))
        {
            Path path = trustedEntry(entry);
            if (path == null)
                continue;
            if (isReadableByAll(path))
            {
                result.add(path.toString());
                continue;
            }
            if (staging == null)
            {
                staging = Files.createTempDirectory(stagingParent, WorkDirectory.CLASS_PATH_PREFIX);
                Files.setPosixFilePermissions(staging, READ_ONLY_DIR);
            }
            // Numbered names keep entries with the same file name (two "classes" dirs) apart.
            Path copy = staging.resolve((index++) + "-" + path.getFileName());
            copy(path, copy);
            result.add(copy.toString());
        }
        if (staging != null && LOG.isDebugEnabled())
            LOG.debug("staged unreadable class path entries into {}", staging);
        return String.join(File.pathSeparator, result);
    }

    /**
     * @param classPath a class path, entries separated by {@link File#pathSeparator}
     * @return its entries that are there and trusted, in their order; each other one is logged at WARN
     */
    public static String trusted(String classPath)
    {
        List<String> result = new ArrayList<>();
        for (String entry : classPath.split(File.pathSeparator))
        {
            Path path = trustedEntry(entry);
            if (path != null)
                result.add(path.toString());
        }
        return String.join(File.pathSeparator, result);
    }

    /**
     * @return the entry's absolute path, or null if it is empty, missing or not trusted (logged at WARN)
     */
    private static Path trustedEntry(String entry)
    {
        if (entry.isEmpty())
            return null;
        Path path = Path.of(entry).toAbsolutePath().normalize();
        if (!Files.exists(path))
        {
            LOG.warn("worker class path entry {} refused: it does not exist", path);
            return null;
        }
        try
        {
            TrustedFiles.checkTree(path);
            return path;
        }
        catch (IOException x)
        {
            LOG.warn("worker class path entry {} refused: {}", path, x.getMessage());
            return null;
        }
    }

    /**
     * @param classPath a class path, entries separated by {@link File#pathSeparator}
     * @return its entries that are not directories (jars), in their order
     */
    public static String jars(String classPath)
    {
        return String.join(File.pathSeparator, entries(classPath, false));
    }

    /**
     * <p>Class-data sharing archives classes from jars only, and refuses a class path with a non-empty
     * directory (such as {@code ${jetty.base}/resources}). With the directories last, the jars an archive was
     * trained with are a prefix of the class path, which is what the JVM checks.</p>
     *
     * @param classPath a class path, entries separated by {@link File#pathSeparator}
     * @return the same entries, its jars first and its directories after them, each in their order
     */
    public static String jarsFirst(String classPath)
    {
        List<String> entries = entries(classPath, false);
        entries.addAll(entries(classPath, true));
        return String.join(File.pathSeparator, entries);
    }

    private static List<String> entries(String classPath, boolean directories)
    {
        List<String> entries = new ArrayList<>();
        for (String entry : classPath.split(File.pathSeparator))
        {
            if (!entry.isEmpty() && Files.isDirectory(Path.of(entry)) == directories)
                entries.add(entry);
        }
        return entries;
    }

    static boolean isReadableByAll(Path path) throws IOException
    {
        Set<PosixFilePermission> own = Files.getPosixFilePermissions(path);
        if (!own.contains(PosixFilePermission.OTHERS_READ))
            return false;
        if (Files.isDirectory(path))
            return false; // a directory's content would have to be checked file by file: copy it instead
        for (Path parent = path.getParent(); parent != null; parent = parent.getParent())
        {
            if (!Files.getPosixFilePermissions(parent).contains(PosixFilePermission.OTHERS_EXECUTE))
                return false;
        }
        return true;
    }

    /**
     * @return the permissions of {@code source} that {@code most} has too: a copy is never readable by more users
     * than its original
     */
    private static Set<PosixFilePermission> narrowed(Path source, Set<PosixFilePermission> most) throws IOException
    {
        Set<PosixFilePermission> permissions = EnumSet.noneOf(PosixFilePermission.class);
        permissions.addAll(Files.getPosixFilePermissions(source, LinkOption.NOFOLLOW_LINKS));
        permissions.retainAll(most);
        return permissions;
    }

    private static void copy(Path from, Path to) throws IOException
    {
        if (!Files.isDirectory(from))
        {
            Files.copy(from, to, StandardCopyOption.COPY_ATTRIBUTES);
            Files.setPosixFilePermissions(to, narrowed(from, READ_ONLY_FILE));
            return;
        }
        try (Stream<Path> tree = Files.walk(from))
        {
            tree.forEach(source ->
            {
                Path target = to.resolve(from.relativize(source).toString());
                try
                {
                    if (Files.isDirectory(source))
                    {
                        Files.createDirectories(target);
                        Files.setPosixFilePermissions(target, narrowed(source, READ_ONLY_DIR));
                    }
                    else
                    {
                        Files.copy(source, target);
                        Files.setPosixFilePermissions(target, narrowed(source, READ_ONLY_FILE));
                    }
                }
                catch (IOException x)
                {
                    throw new UncheckedIOException(x);
                }
            });
        }
        catch (UncheckedIOException x)
        {
            throw x.getCause();
        }
    }
}
