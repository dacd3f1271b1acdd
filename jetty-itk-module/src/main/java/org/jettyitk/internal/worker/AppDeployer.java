package org.jettyitk.internal.worker;

import java.io.IOException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.eclipse.jetty.ee10.webapp.WebAppContext;
import org.eclipse.jetty.server.Deployable;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.handler.ResourceHandler;
import org.eclipse.jetty.util.resource.ResourceFactory;

/**
 * <p>Turns a vhost's {@code app} setting into the worker's {@link Handler}. It runs after the privilege drop,
 * so it reads the tenant's files with the tenant's rights only.</p>
 * <table>
 *   <caption>What is deployed</caption>
 *   <tr><th>app</th><th>handler class</th><th>deployed as</th></tr>
 *   <tr><td>{@code *.war} or a directory with {@code WEB-INF}</td><td>none</td><td>an ee10 {@link WebAppContext} at {@code /}, deployed as
 *   Jetty's {@code ee10-deploy} deploys one ({@link WebAppDeployment})</td></tr>
 *   <tr><td>any other directory</td><td>none</td><td>a {@link ResourceHandler} serving its files</td></tr>
 *   <tr><td>a directory or a jar</td><td>a class name</td><td>that {@link Handler}, loaded from {@code app}
 *   ({@code classes/}, {@code lib/*.jar}, or the jar itself)</td></tr>
 * </table>
 */
public final class AppDeployer
{
    private AppDeployer()
    {
    }

    /**
     * @param server the worker's server
     * @param app the vhost's app
     * @param handlerClass the vhost's handler class, or null
     * @param deploySettings the base's deploy settings for a webapp, by {@link Deployable} attribute name
     * ({@link WebAppDeployment#settingsOf})
     * @return the handler, not started
     */
    public static Handler newHandler(Server server, String app, String handlerClass, Map<String, String> deploySettings) throws Exception
    {
        Path path = Path.of(app).toAbsolutePath().normalize();
        try
        {
            Files.readAttributes(path, BasicFileAttributes.class);
        }
        catch (NoSuchFileException x)
        {
            throw new IOException("app not found: " + path, x);
        }
        catch (AccessDeniedException x)
        {
            // This runs as the tenant: a directory on the way it may not search.
            throw new IOException("app not reachable by this vhost's user: " + path, x);
        }
        if (!Files.isReadable(path))
            throw new IOException("app not readable by this vhost's user: " + path);
        if (handlerClass != null)
            return newCustomHandler(path, handlerClass);
        if (isWebApp(path))
            return newWebApp(server, path, deploySettings);
        if (Files.isDirectory(path))
            return newStaticHandler(path);
        throw new IOException("app is neither a directory nor a .war: " + path);
    }

    static boolean isWebApp(Path path)
    {
        return path.getFileName().toString().endsWith(".war") || Files.isDirectory(path.resolve("WEB-INF"));
    }

    private static Handler newWebApp(Server server, Path path, Map<String, String> deploySettings) throws IOException
    {
        WebAppDeployment.configure(server, WebAppDeployment.environment(), deploySettings);
        return WebAppDeployment.newWebApp(path, WebAppDeployment.environment());
    }

    private static Handler newStaticHandler(Path path)
    {
        ResourceHandler handler = new ResourceHandler();
        handler.setBaseResource(ResourceFactory.root().newResource(path));
        handler.setDirAllowed(false);
        handler.setWelcomeFiles(List.of("index.html"));
        return handler;
    }

    private static Handler newCustomHandler(Path path, String className) throws Exception
    {
        List<URL> urls = new ArrayList<>();
        if (Files.isDirectory(path))
        {
            Path classes = path.resolve("classes");
            urls.add((Files.isDirectory(classes) ? classes : path).toUri().toURL());
            Path lib = path.resolve("lib");
            if (Files.isDirectory(lib))
            {
                try (Stream<Path> jars = Files.list(lib))
                {
                    for (Path jar : jars.filter(p -> p.toString().endsWith(".jar")).sorted().toList())
                    {
                        urls.add(jar.toUri().toURL());
                    }
                }
            }
        }
        else
        {
            urls.add(path.toUri().toURL());
        }
        ClassLoader loader = new URLClassLoader("itk-app", urls.toArray(URL[]::new), AppDeployer.class.getClassLoader());
        Class<?> type = Class.forName(className, true, loader);
        if (!Handler.class.isAssignableFrom(type))
            throw new IllegalArgumentException("not a " + Handler.class.getName() + ": " + className);
        return (Handler)type.getConstructor().newInstance();
    }
}
