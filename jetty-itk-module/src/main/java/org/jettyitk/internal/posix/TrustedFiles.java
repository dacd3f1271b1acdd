package org.jettyitk.internal.posix;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * <p>What root may read, run or write into: a file or directory that root (or the front's own user) owns and that
 * nobody else can write, reached through directories that are alike. Anyone who can write a directory of the path
 * can put another file, or a link to one, in its place.</p>
 * <p>A path is checked as the kernel resolves it: a symbolic link is allowed where root put it (it lives in a
 * checked directory and root owns it), and the path it leads to is checked in turn. A directory of the path that others can write is
 * allowed if it has the sticky bit ({@code /tmp}): others cannot rename or remove what root owns there. Only
 * the front's own user may be able to write the checked file or directory itself.</p>
 * <p>Once checked, such a path stays as it is: only root could change it.</p>
 */
public final class TrustedFiles
{
    private static final int GROUP_OR_OTHERS_WRITE = 0022;
    private static final int STICKY = 01000;
    private static final int TYPE_MASK = 0170000;
    private static final int TYPE_DIRECTORY = 0040000;
    private static final int TYPE_LINK = 0120000;
    private static final String ATTRIBUTES = "unix:uid,mode";
    /** Linux's limit on symbolic links followed in one path resolution. */
    private static final int MAX_LINKS = 40;

    private TrustedFiles()
    {
    }

    /**
     * <p>Resolves the path as the kernel would, one component at a time, and checks every directory it passes,
     * every symbolic link it follows (owned by root or the front's user: a link in a sticky directory may be
     * anyone's) and the file or directory it ends at.</p>
     *
     * @param path a file or directory
     * @return its real path
     * @throws IOException saying which component is not trusted and why, or that the path does not exist
     */
    public static Path check(Path path) throws IOException
    {
        int self = frontUid();
        Path absolute = path.toAbsolutePath();
        Path current = absolute.getRoot();
        checkComponent(current, self, true);
        Deque<String> pending = new ArrayDeque<>();
        absolute.forEach(name -> pending.add(name.toString()));
        int links = 0;
        while (!pending.isEmpty())
        {
            String name = pending.removeFirst();
            if (name.equals("."))
                continue;
            if (name.equals(".."))
            {
                // current is resolved: its parent is the real one.
                if (current.getParent() != null)
                    current = current.getParent();
                continue;
            }
            Path next = current.resolve(name);
            Map<String, Object> attributes = Files.readAttributes(next, ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
            if (((Integer)attributes.get("mode") & TYPE_MASK) == TYPE_LINK)
            {
                if (++links > MAX_LINKS)
                    throw new IOException(absolute + ": more than " + MAX_LINKS + " symbolic links");
                checkOwner(next, (Integer)attributes.get("uid"), self);
                Path target = Files.readSymbolicLink(next);
                List<String> names = new ArrayList<>();
                target.forEach(part -> names.add(part.toString()));
                for (int i = names.size() - 1; i >= 0; i--)
                {
                    pending.addFirst(names.get(i));
                }
                if (target.isAbsolute())
                    current = target.getRoot();
                continue;
            }
            checkComponent(next, self, !pending.isEmpty());
            current = next;
        }
        return current;
    }

    /**
     * <p>Checks a path and, if it is a directory, everything in it: no symbolic link, every file and directory
     * owned by root or the front's user and writable by no one else.</p>
     *
     * @return the real path
     * @throws IOException saying which file is not trusted and why
     */
    public static Path checkTree(Path path) throws IOException
    {
        Path real = check(path);
        if (!Files.isDirectory(real, LinkOption.NOFOLLOW_LINKS))
            return real;
        int self = frontUid();
        try (Stream<Path> tree = Files.walk(real))
        {
            tree.forEach(entry ->
            {
                try
                {
                    if (Files.isSymbolicLink(entry))
                        throw new IOException(entry + " is a symbolic link");
                    checkComponent(entry, self, false);
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
        return real;
    }

    /**
     * <p>Checks the deepest existing directory of {@code directory} and creates the rest, so that root never
     * creates a directory where others could have put a link first.</p>
     *
     * @return the real path of {@code directory}, checked
     * @throws IOException if a directory of the path is not trusted or cannot be created
     */
    public static Path createDirectories(Path directory) throws IOException
    {
        Path absolute = directory.toAbsolutePath().normalize();
        Path existing = absolute;
        while (existing != null && !Files.exists(existing, LinkOption.NOFOLLOW_LINKS))
        {
            existing = existing.getParent();
        }
        if (existing != null)
            check(existing);
        Files.createDirectories(absolute);
        return check(absolute);
    }

    private static void checkComponent(Path component, int self, boolean mayBeSticky) throws IOException
    {
        Map<String, Object> attributes = Files.readAttributes(component, ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
        int uid = (Integer)attributes.get("uid");
        int mode = (Integer)attributes.get("mode");
        if ((mode & TYPE_MASK) == TYPE_LINK)
            throw new IOException(component + " is a symbolic link");
        checkOwner(component, uid, self);
        if ((mode & GROUP_OR_OTHERS_WRITE) != 0)
        {
            boolean sticky = (mode & TYPE_MASK) == TYPE_DIRECTORY && (mode & STICKY) != 0;
            if (!sticky || !mayBeSticky)
                throw new IOException(component + " is writable by others than its owner (mode 0" + Integer.toOctalString(mode & 07777) + ")");
        }
    }

    private static void checkOwner(Path component, int uid, int self) throws IOException
    {
        if (uid != 0 && uid != self)
            throw new IOException(component + " is owned by uid " + uid + ", not by root" + (self == 0 ? "" : " or uid " + self));
    }

    /**
     * @return the effective uid of this process, as the kernel reports it
     */
    static int frontUid() throws IOException
    {
        List<String> uids = ProcStatus.read(ProcStatus.SELF).words("Uid");
        if (uids == null || uids.size() < 2)
            throw new IOException("no effective uid in " + ProcStatus.SELF);
        return Integer.parseInt(uids.get(1));
    }
}
