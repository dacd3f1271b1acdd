package org.jettyitk.internal.launch;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;

import jnr.posix.FileStat;
import org.jettyitk.internal.posix.Identity;
import org.jettyitk.internal.posix.Posix;
import org.jettyitk.internal.posix.TrustedFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * <p>The directory holding each vhost's {@code HOME} ({@code vhost-NAME}, owned by the tenant, mode 0700) and the
 * front's own directories (class-data archive, staged class path). Root owns it and only root can write it, so
 * no one else can rename or replace what is in it.</p>
 * <p>Everything in a tenant's {@code HOME} is the tenant's: root never creates, changes or opens anything there.
 * The worker creates its {@code tmp} itself, after its drop. Root creates a {@code HOME} and hands it over through
 * a descriptor opened without following a link; at the end, a process running as the tenant empties it, and root
 * removes the empty directory by its name in this one.</p>
 */
public final class WorkDirectory
{
    private static final Logger LOG = LoggerFactory.getLogger(WorkDirectory.class);
    /** The mode of a new work directory: tenants traverse it to reach their {@code HOME}, but neither list nor write it. */
    public static final String MODE = "rwx--x--x";
    public static final int HOME_MODE = 0700;
    public static final String HOME_PREFIX = "vhost-";
    /** The prefix of the class-data archive's directory, which the front (or its spawner) makes at each start. */
    public static final String CLASS_ARCHIVE_PREFIX = "class-archive-";
    /** The prefix of the directory of class path entries staged for the workers ({@link WorkerClassPath#readableByAll}). */
    public static final String CLASS_PATH_PREFIX = "classpath-";
    /** The longest wait for a tenant's {@code HOME} to be emptied by a process of its own. */
    public static final long DELETE_TIMEOUT_SECONDS = 60;

    private final Posix posix;
    private final Path path;
    private final boolean created;

    private WorkDirectory(Posix posix, Path path, boolean created)
    {
        this.posix = posix;
        this.path = path;
        this.created = created;
    }

    /**
     * @param configured the directory to use, created if missing; null for a new temporary directory, deleted by
     * {@link #delete()}
     * @throws IOException if a directory of its path is not trusted ({@link TrustedFiles}) or it cannot be created
     */
    public static WorkDirectory open(Path configured) throws IOException
    {
        Posix posix = Posix.get();
        if (configured != null)
            return new WorkDirectory(posix, TrustedFiles.createDirectories(configured), false);
        Path created = Files.createTempDirectory("jetty-itk-", PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(MODE)));
        // The attribute is masked by the umask: set the mode again.
        Files.setPosixFilePermissions(created, PosixFilePermissions.fromString(MODE));
        return new WorkDirectory(posix, TrustedFiles.check(created), true);
    }

    /**
     * @param created a directory {@link #open(Path) open(null)} created in another process (the front, for its
     * spawner), which {@link #delete()} then deletes
     * @throws IOException if a directory of its path is not trusted ({@link TrustedFiles})
     */
    public static WorkDirectory adopt(Path created) throws IOException
    {
        return new WorkDirectory(Posix.get(), TrustedFiles.check(created), true);
    }

    /**
     * @return whether {@link #delete()} deletes this directory: {@link #open(Path)} created it
     */
    public boolean isCreated()
    {
        return created;
    }

    public Path getPath()
    {
        return path;
    }

    /**
     * <p>An injective name: letters, digits, {@code .} and {@code -} stand for themselves; any other character,
     * {@code _} included, is {@code _} and two hex digits per UTF-8 byte. So {@code a b} is {@code a_20b} and
     * {@code a_b} is {@code a_5fb}: two vhosts never share a {@code HOME}.</p>
     *
     * @return the name of the vhost's {@code HOME} in this directory
     */
    public static String homeName(String vhostName)
    {
        StringBuilder name = new StringBuilder(HOME_PREFIX);
        for (byte b : vhostName.getBytes(StandardCharsets.UTF_8))
        {
            char c = (char)(b & 0xFF);
            if (c < 0x80 && (Character.isLetterOrDigit(c) || c == '.' || c == '-'))
                name.append(c);
            else
                name.append('_').append(Character.forDigit(c >> 4, 16)).append(Character.forDigit(c & 0xF, 16));
        }
        return name.toString();
    }

    /**
     * <p>Creates the vhost's {@code HOME} if needed and gives it to the identity, mode 0700, through a descriptor:
     * nothing in it is looked at.</p>
     *
     * @return the path of the {@code HOME}
     * @throws IOException if it cannot be created, is not a directory, or belongs to another tenant
     */
    public Path prepareHome(String vhostName, Identity identity) throws IOException
    {
        String name = homeName(vhostName);
        int directory = posix.openDirectory(path);
        try
        {
            posix.mkdirAt(directory, name, HOME_MODE);
            int home;
            try
            {
                home = posix.openDirectoryAt(directory, name);
            }
            catch (NotDirectoryException x)
            {
                throw new IOException(path.resolve(name) + " is not a directory", x);
            }
            try
            {
                FileStat stat = posix.fstat(home);
                // A HOME keeps its tenant's files: another uid would get them.
                if (stat.uid() != identity.uid() && stat.uid() != 0)
                    throw new IOException(path.resolve(name) + " belongs to uid " + stat.uid() + ", not to the vhost's uid " + identity.uid() + ": remove it to have a new one made");
                posix.fchown(home, identity.uid(), identity.gid());
                posix.fchmod(home, HOME_MODE);
            }
            finally
            {
                posix.close(home);
            }
        }
        finally
        {
            posix.close(directory);
        }
        return path.resolve(name);
    }

    /**
     * <p>Deletes a directory of this one that root made and only root wrote, such as the class-data archive's,
     * through descriptors, never following a link.</p>
     */
    public void deleteOwn(Path child)
    {
        if (!path.equals(child.getParent()))
            throw new IllegalArgumentException(child + " is not in " + path);
        try
        {
            int directory = posix.openDirectory(path);
            try
            {
                deleteAt(directory, child.getFileName().toString());
            }
            finally
            {
                posix.close(directory);
            }
        }
        catch (IOException x)
        {
            LOG.warn("cannot delete {}: {}", child, x.getMessage());
        }
    }

    /**
     * <p>Deletes the directories of root's own that an earlier start left in a lasting work directory: the staged
     * class path, which nothing deletes at stop, and the class-data archive of a front that was killed. Each start
     * makes new ones: without this, every restart would leave one more copy (an archive is some 20 MiB). Only
     * root-owned entries with those prefixes are deleted, through descriptors, never following a link; tenants'
     * {@code HOME}s are left as they are.</p>
     * <p>Called at start, before this start makes its own: a work directory serves one front at a time, as its
     * {@code HOME}s do.</p>
     */
    public void deleteLeftovers()
    {
        if (created)
            return;
        try
        {
            int directory = posix.openDirectory(path);
            try
            {
                for (String name : posix.list(directory))
                {
                    if (name.startsWith(CLASS_ARCHIVE_PREFIX) || name.startsWith(CLASS_PATH_PREFIX))
                        deleteLeftover(directory, name);
                }
            }
            finally
            {
                posix.close(directory);
            }
        }
        catch (IOException x)
        {
            LOG.warn("cannot clean work directory {}: {}", path, x.toString());
        }
    }

    private void deleteLeftover(int directory, String name)
    {
        try
        {
            int entry = posix.openDirectoryAt(directory, name);
            FileStat stat;
            try
            {
                stat = posix.fstat(entry);
            }
            finally
            {
                posix.close(entry);
            }
            if (stat.uid() != posix.geteuid())
            {
                LOG.warn("left {}: owned by uid {}, not made by this front", path.resolve(name), stat.uid());
                return;
            }
            deleteAt(directory, name);
            LOG.info("deleted {}, left by an earlier start", path.resolve(name));
        }
        catch (IOException x)
        {
            LOG.warn("cannot delete {}: {}", path.resolve(name), x.getMessage());
        }
    }

    /**
     * <p>Deletes this directory if {@link #open(Path)} created it: each tenant's {@code HOME} is emptied by a
     * process running as its owner ({@code setpriv ... find HOME -mindepth 1 -delete}), which can delete nothing
     * the tenant could not; the rest, root's own, through descriptors. What cannot be deleted (a tenant's process
     * still writing, no {@code setpriv}) is left and logged.</p>
     */
    public void delete()
    {
        if (!created)
            return;
        try
        {
            int directory = posix.openDirectory(path);
            try
            {
                for (String name : posix.list(directory))
                {
                    try
                    {
                        deleteEntry(directory, name);
                    }
                    catch (IOException x)
                    {
                        LOG.warn("cannot delete {}: {}", path.resolve(name), x.getMessage());
                    }
                }
            }
            finally
            {
                posix.close(directory);
            }
            Files.delete(path);
        }
        catch (IOException x)
        {
            LOG.warn("cannot delete work directory {}: {}", path, x.toString());
        }
    }

    private void deleteEntry(int directory, String name) throws IOException
    {
        int entry;
        try
        {
            entry = posix.openDirectoryAt(directory, name);
        }
        catch (NotDirectoryException x)
        {
            posix.unlinkAt(directory, name, false);
            return;
        }
        FileStat stat;
        try
        {
            stat = posix.fstat(entry);
        }
        finally
        {
            posix.close(entry);
        }
        if (stat.uid() == 0 || stat.uid() == posix.geteuid())
            deleteAt(directory, name);
        else if (emptyAsOwner(path.resolve(name), stat.uid(), stat.gid()))
            posix.unlinkAt(directory, name, true);
    }

    /**
     * Deletes {@code name} of {@code directory}, and all in it if it is a directory, as root: only for trees no one
     * else can write.
     */
    private void deleteAt(int directory, String name) throws IOException
    {
        int entry;
        try
        {
            entry = posix.openDirectoryAt(directory, name);
        }
        catch (NotDirectoryException x)
        {
            posix.unlinkAt(directory, name, false);
            return;
        }
        catch (NoSuchFileException x)
        {
            return;
        }
        try
        {
            for (String child : posix.list(entry))
            {
                deleteAt(entry, child);
            }
        }
        finally
        {
            posix.close(entry);
        }
        posix.unlinkAt(directory, name, true);
    }

    private static boolean emptyAsOwner(Path home, int uid, int gid)
    {
        if (!Files.isExecutable(Path.of(ProcessWorkerLauncher.SETPRIV)))
        {
            LOG.warn("left {} of uid {}: without {} (util-linux) no process of that uid can empty it, and root does not delete in a tenant's tree", home, uid, ProcessWorkerLauncher.SETPRIV);
            return false;
        }
        List<String> command = List.of(ProcessWorkerLauncher.SETPRIV, "--reuid=" + uid, "--regid=" + gid, "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
            "find", home.toString(), "-mindepth", "1", "-delete");
        // What find says would be unbounded (a line per file it cannot delete): its status is enough.
        ProcessBuilder builder = new ProcessBuilder(command).directory(Path.of("/").toFile())
            .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectError(ProcessBuilder.Redirect.DISCARD);
        builder.environment().clear();
        builder.environment().put("PATH", ProcessWorkerLauncher.DEFAULT_PATH);
        try
        {
            Process process = builder.start();
            if (!process.waitFor(DELETE_TIMEOUT_SECONDS, TimeUnit.SECONDS))
            {
                process.destroyForcibly();
                LOG.warn("left {} of uid {}: emptying it took more than {} s", home, uid, DELETE_TIMEOUT_SECONDS);
                return false;
            }
            if (process.exitValue() != 0)
            {
                LOG.warn("left {} of uid {}: find -delete as uid {} exited with {} (a process of the tenant may still be writing it)", home, uid, uid, process.exitValue());
                return false;
            }
            return true;
        }
        catch (IOException x)
        {
            LOG.warn("left {} of uid {}: {}", home, uid, x.toString());
            return false;
        }
        catch (InterruptedException x)
        {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    @Override
    public String toString()
    {
        return "%s@%x[%s,created=%b]".formatted(getClass().getSimpleName(), hashCode(), path, created);
    }
}
