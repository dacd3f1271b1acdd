package org.jettyitk.internal.worker;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.jettyitk.internal.posix.Identity;

/**
 * <p>What the front tells a worker on its command line: whom to run as and what to deploy. The front builds
 * it with {@link #toArguments()}, the worker reads it with {@link #parse(String[])}; nothing else crosses
 * from front to worker before the pipe protocol starts.</p>
 * <pre>
 *   --vhost alice --user alice --uid 41001 --gid 41001 --groups 41001,41005
 *   --app /srv/alice/site.war [--handler-class com.example.Hello] --umask 027
 * </pre>
 *
 * @param vhost the name of the vhost, for logs
 * @param identity the identity to run as and to verify
 * @param app the application: a directory, an exploded webapp or a {@code .war}, or the class path of a handler
 * @param handlerClass a {@code org.eclipse.jetty.server.Handler} class to load from {@code app}, or null
 * @param umask the file mode creation mask
 */
public record WorkerArguments(String vhost, Identity identity, String app, String handlerClass, int umask)
{
    public List<String> toArguments()
    {
        List<String> args = new ArrayList<>(List.of(
            "--vhost", vhost,
            "--user", identity.user(),
            "--uid", Integer.toString(identity.uid()),
            "--gid", Integer.toString(identity.gid()),
            "--groups", join(identity.groups()),
            "--app", app,
            "--umask", Integer.toOctalString(umask)));
        if (handlerClass != null)
            args.addAll(List.of("--handler-class", handlerClass));
        return args;
    }

    private static String join(int[] ids)
    {
        return String.join(",", Arrays.stream(ids).mapToObj(Integer::toString).toList());
    }

    /**
     * @param args the worker's command line
     * @return the arguments
     * @throws IllegalArgumentException naming the first bad or missing option
     */
    public static WorkerArguments parse(String[] args)
    {
        String vhost = null;
        String user = null;
        String app = null;
        String handlerClass = null;
        Integer uid = null;
        Integer gid = null;
        int[] groups = null;
        int umask = 027;
        for (int i = 0; i < args.length; i += 2)
        {
            if (i + 1 >= args.length)
                throw new IllegalArgumentException("option without value: " + args[i]);
            String value = args[i + 1];
            switch (args[i])
            {
                case "--vhost" -> vhost = value;
                case "--user" -> user = value;
                case "--uid" -> uid = Integer.parseInt(value);
                case "--gid" -> gid = Integer.parseInt(value);
                case "--groups" -> groups = value.isEmpty() ? new int[0] : Arrays.stream(value.split(",")).mapToInt(Integer::parseInt).toArray();
                case "--app" -> app = value;
                case "--handler-class" -> handlerClass = value;
                case "--umask" -> umask = Integer.parseInt(value, 8);
                default -> throw new IllegalArgumentException("unknown option: " + args[i]);
            }
        }
        if (vhost == null || user == null || uid == null || gid == null || groups == null || app == null)
            throw new IllegalArgumentException("required: --vhost --user --uid --gid --groups --app; got " + Arrays.toString(args));
        return new WorkerArguments(vhost, new Identity(user, uid, gid, groups), app, handlerClass, umask);
    }
}
