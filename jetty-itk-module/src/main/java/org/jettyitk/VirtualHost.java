package org.jettyitk;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

import org.eclipse.jetty.util.annotation.ManagedAttribute;
import org.eclipse.jetty.util.annotation.ManagedObject;

/**
 * <p>One tenant: the host names it answers, the Unix identity its code runs as, and its application.
 * A plain bean with setters, so Jetty XML and Java configure it alike.</p>
 * <pre>{@code
 * VirtualHost alice = new VirtualHost("alice");
 * alice.setHostNames("alice.example.com", "*.alice.example.com");
 * alice.setUser("alice");          // or a number: "41001"
 * alice.setGroup("alice");         // optional: the user's primary group
 * alice.setGroups("41005");        // optional: default is the user's groups (initgroups)
 * alice.setApp("/srv/alice/site.war");
 * itkHandler.addVirtualHost(alice);
 * }</pre>
 * <p>An app is a directory of static files, an exploded webapp or a {@code .war}, or, with
 * {@link #setHandlerClass(String)}, a Jetty {@code Handler} class loaded from the app directory or jar.
 * Values are checked when the {@link ItkHandler} starts; errors name this vhost.</p>
 */
@ManagedObject("A virtual host served under its own Unix identity")
public class VirtualHost
{
    /** Default file mode creation mask of a worker: nothing for others. */
    public static final int DEFAULT_UMASK = 027;

    private String name;
    private final List<String> hostNames = new ArrayList<>();
    private String user;
    private String group;
    private List<String> groups;
    private String app;
    private String handlerClass;
    private int umask = DEFAULT_UMASK;

    public VirtualHost()
    {
    }

    public VirtualHost(String name)
    {
        this.name = name;
    }

    @ManagedAttribute("The name of this vhost, used in logs and errors")
    public String getName()
    {
        return name != null ? name : hostNames.isEmpty() ? null : hostNames.get(0);
    }

    public void setName(String name)
    {
        this.name = name;
    }

    @ManagedAttribute("Host names: exact, or *.domain for one more label")
    public List<String> getHostNames()
    {
        return List.copyOf(hostNames);
    }

    public void setHostNames(String... names)
    {
        hostNames.clear();
        for (String hostName : names)
        {
            addHostName(hostName);
        }
    }

    public void addHostName(String hostName)
    {
        hostNames.add(Objects.requireNonNull(hostName, "hostName"));
    }

    @ManagedAttribute("The user the code runs as: a name or a number")
    public String getUser()
    {
        return user;
    }

    public void setUser(String user)
    {
        this.user = user;
    }

    @ManagedAttribute("The group: a name or a number; null for the user's primary group")
    public String getGroup()
    {
        return group;
    }

    public void setGroup(String group)
    {
        this.group = group;
    }

    @ManagedAttribute("Supplementary groups; null for the user's groups (initgroups)")
    public List<String> getGroups()
    {
        return groups;
    }

    /**
     * @param groups supplementary groups, names or numbers; none for no supplementary group besides the group
     */
    public void setGroups(String... groups)
    {
        this.groups = new ArrayList<>(Arrays.asList(groups));
    }

    /**
     * @param groups a comma-separated list of groups, as a Jetty XML property would give it
     */
    public void setGroupList(String groups)
    {
        setGroups(groups.isBlank() ? new String[0] : groups.trim().split("\\s*,\\s*"));
    }

    @ManagedAttribute("The application: static directory, webapp directory or .war, or handler class path")
    public String getApp()
    {
        return app;
    }

    public void setApp(String app)
    {
        this.app = app;
    }

    @ManagedAttribute("A Handler class to load from the app, or null")
    public String getHandlerClass()
    {
        return handlerClass;
    }

    public void setHandlerClass(String handlerClass)
    {
        this.handlerClass = handlerClass;
    }

    @ManagedAttribute("The worker's file mode creation mask")
    public int getUmask()
    {
        return umask;
    }

    public void setUmask(int umask)
    {
        if (umask < 0 || umask > 0777)
            throw new IllegalArgumentException("umask out of range 0..0777: " + Integer.toOctalString(umask));
        this.umask = umask;
    }

    @Override
    public String toString()
    {
        return "%s@%x[name=%s,hosts=%s,user=%s,group=%s,app=%s]".formatted(getClass().getSimpleName(), hashCode(), getName(), hostNames, user, group, app);
    }
}
