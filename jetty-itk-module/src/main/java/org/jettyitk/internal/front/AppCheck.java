package org.jettyitk.internal.front;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import org.jettyitk.internal.posix.Identity;

/**
 * <p>Tells, when a vhost is loaded, whether its app can be deployed by its worker: whether the path exists and
 * whether the vhost's user may reach and read it, by the owner, group and other bits of every directory on the way
 * (ACLs aside). It only reads file attributes: the worker, as the tenant, is what opens the app.</p>
 * <p>The answer is for the admin's log, not a gate: an app may come later, and the worker's own failure says
 * the final word.</p>
 */
public final class AppCheck
{
    private static final int READ = 4;
    private static final int EXECUTE = 1;

    private AppCheck()
    {
    }

    /**
     * @param app the vhost's app path
     * @param identity the vhost's identity
     * @return null if the identity can read the app, else what stands in the way
     */
    public static String problem(String app, Identity identity)
    {
        Path path = Path.of(app).toAbsolutePath().normalize();
        Path current = path.getRoot();
        for (Path name : path)
        {
            Map<String, Object> attributes;
            Path next = current.resolve(name);
            try
            {
                attributes = Files.readAttributes(next, "unix:uid,gid,mode");
            }
            catch (NoSuchFileException x)
            {
                return "app " + path + " does not exist (" + next + " is missing)";
            }
            catch (IOException | UnsupportedOperationException x)
            {
                return null;
            }
            boolean last = next.equals(path);
            boolean directory = Files.isDirectory(next);
            int needed = !last ? EXECUTE : directory ? READ | EXECUTE : READ;
            int granted = granted(attributes, identity);
            if ((granted & needed) != needed)
                return "app " + path + " is not readable by uid " + identity.uid() + ": " + next + " is mode " +
                    Integer.toOctalString((Integer)attributes.get("mode") & 07777) + " owned by " + attributes.get("uid") + ":" + attributes.get("gid");
            current = next;
        }
        return null;
    }

    private static int granted(Map<String, Object> attributes, Identity identity)
    {
        int mode = (Integer)attributes.get("mode");
        int uid = (Integer)attributes.get("uid");
        int gid = (Integer)attributes.get("gid");
        if (uid == identity.uid())
            return (mode >> 6) & 7;
        if (gid == identity.gid() || Arrays.stream(identity.groups()).anyMatch(g -> g == gid))
            return (mode >> 3) & 7;
        return mode & 7;
    }
}
