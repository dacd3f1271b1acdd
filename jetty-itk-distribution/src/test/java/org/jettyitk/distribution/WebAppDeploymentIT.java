package org.jettyitk.distribution;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

import org.eclipse.jetty.client.ContentResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * <p>A WAR deploys in a worker as Jetty's {@code ee10-deploy} deploys it. Two bases of the real jetty-home with
 * the same {@code ee10-*} modules: a plain one that deploys the WAR with {@code ee10-deploy} (as
 * {@code webapps/root.war}), and one with {@code itk} (no {@code ee10-deploy}) whose vhost serves the same WAR
 * from a worker. The same requests go to both: a JSP using JSTL's {@code <c:forEach>}, a
 * {@code @WebServlet}, a {@code ServletContainerInitializer} in {@code WEB-INF/lib} with {@code @HandlesTypes}
 * (what Spring Boot's WAR start-up needs), a class the base hides from webapps, and the context's attributes, the
 * deployer's settings among them.</p>
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public class WebAppDeploymentIT
{
    private static final int TENANT = 43101;
    private static final String MODULES = "ee10-apache-jsp,ee10-jstl,ee10-annotations";
    /**
     * Context attributes whose values must be the same in both: the deployer's settings and what Jetty derives
     * from them. The others hold paths, object identities or the temporary directory, which differ by nature;
     * their names must still be the same.
     */
    private static final Set<String> SAME_VALUES = Set.of(
        "jetty.deploy.containerScanJarPattern",
        "org.eclipse.jetty.server.webapp.ContainerIncludeJarPattern",
        "jetty.deploy.defaultsDescriptor",
        "jetty.deploy.defaultContextHandlerClass",
        "jetty.deploy.defaultContextPath",
        "org.eclipse.jetty.webapp.serverClasses",
        "org.eclipse.jetty.webapp.systemClasses",
        "org.eclipse.jetty.server.Request.maxFormContentSize",
        "org.eclipse.jetty.server.Request.maxFormKeys",
        "org.apache.catalina.jsp_classpath");

    private JettyBase plain;
    private JettyBase itk;
    private Clients clients;
    private int plainPort;
    private int itkPort;

    @BeforeAll
    public void start() throws Exception
    {
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")),
            "the front must run as root to start workers as other users (run the build as root)");
        clients = new Clients();
        Path war = testWar();

        plain = JettyBase.create("base-deploy-plain");
        plain.startJar(null, "--approve-all-licenses", "--add-modules=http,ee10-deploy," + MODULES);
        Files.copy(war, plain.dir.resolve("webapps/root.war"));
        plainPort = JettyBase.freePort();
        plain.start("jetty.http.host=127.0.0.1", "jetty.http.port=" + plainPort);

        itk = JettyBase.create("base-deploy-itk");
        itk.startJar(null, "--approve-all-licenses", "--add-modules=http,itk," + MODULES);
        Path tenantWar = itk.tenant("webapp", TENANT, war);
        itk.writeVhost("webapp.xml", JettyBase.vhostXml("webapp.itk.test", TENANT, itk.dir.relativize(tenantWar)));
        itkPort = JettyBase.freePort();
        itk.start("jetty.http.host=127.0.0.1", "jetty.http.port=" + itkPort);
    }

    @AfterAll
    public void stop()
    {
        if (clients != null)
            clients.close();
        if (plain != null)
            plain.close();
        if (itk != null)
            itk.close();
    }

    private ContentResponse plain(String path) throws Exception
    {
        return clients.get("http://127.0.0.1:" + plainPort + path);
    }

    private ContentResponse worker(String path) throws Exception
    {
        return clients.get("http://webapp.itk.test:" + itkPort + path);
    }

    private void assertSameResponse(String path, String expected) throws Exception
    {
        ContentResponse direct = plain(path);
        ContentResponse tenant = worker(path);
        assertEquals(200, direct.getStatus(), path + " on plain Jetty:\n" + direct.getContentAsString() + plain.logText());
        assertEquals(expected, direct.getContentAsString(), path + " on plain Jetty");
        assertEquals(200, tenant.getStatus(), path + " in the worker:\n" + tenant.getContentAsString() + itk.logText());
        assertEquals(direct.getContentAsString(), tenant.getContentAsString(), path);
        assertEquals(direct.getHeaders().get("Content-Type"), tenant.getHeaders().get("Content-Type"), path);
    }

    @Test
    public void testJspWithJstlFromTheBase() throws Exception
    {
        assertSameResponse("/jstl.jsp", "item 1\nitem 2\nitem 3\n");
    }

    @Test
    public void testAnnotatedServletAndContainerInitializer() throws Exception
    {
        assertSameResponse("/annotated", "annotated servlet");
        assertSameResponse("/sci", "initializer saw [example.HelloGreeting]");
    }

    @Test
    public void testContextAttributesAndHiddenClassesAreTheDeployers() throws Exception
    {
        Map<String, String> direct = attributes(plain("/dump.jsp").getContentAsString());
        Map<String, String> tenant = attributes(worker("/dump.jsp").getContentAsString());

        assertEquals(direct.keySet(), tenant.keySet(), "the same context attributes:\n" + direct + "\n" + tenant);
        for (String name : SAME_VALUES)
        {
            assertTrue(direct.containsKey(name), name + " in " + direct);
            assertEquals(direct.get(name), tenant.get(name), name);
        }
        // The logging modules hide slf4j from webapps: the worker's class path holds it, and hides it too.
        assertEquals("hidden", direct.get("class org.slf4j.Logger"));
        // Jetty's rules for the temporary directory: under java.io.tmpdir, which in a worker is the tenant's.
        for (Map<String, String> dump : List.of(direct, tenant))
        {
            assertTrue(dump.get("jakarta.servlet.context.tempdir").startsWith(dump.get("property java.io.tmpdir")), dump.toString());
        }
        assertNotEquals(direct.get("property java.io.tmpdir"), tenant.get("property java.io.tmpdir"), "the worker's temporary directory is its own");
    }

    /**
     * @return the lines {@code name = value} of {@code dump.jsp}
     */
    private static Map<String, String> attributes(String dump)
    {
        Map<String, String> attributes = new TreeMap<>();
        for (String line : dump.split("\n"))
        {
            int equals = line.indexOf(" = ");
            if (equals > 0)
                attributes.put(line.substring(0, equals), line.substring(equals + 3));
        }
        return attributes;
    }

    /**
     * @return a WAR with JSPs, an annotated servlet in {@code WEB-INF/classes} and a container initializer in a jar of
     * {@code WEB-INF/lib}, compiled here against the distribution's servlet API
     */
    private static Path testWar() throws Exception
    {
        Path work = JettyBase.itDirectory().resolve("deploy-war");
        JettyBase.deleteTree(work);
        Path sources = Files.createDirectories(work.resolve("src/example"));
        Path classes = Files.createDirectories(work.resolve("classes"));
        Map<String, String> java = new LinkedHashMap<>();
        java.put("Greeting", """
            package example;
            public interface Greeting
            {
            }
            """);
        java.put("Initializer", """
            package example;
            import java.io.IOException;
            import java.util.Set;
            import java.util.TreeSet;
            import jakarta.servlet.ServletContainerInitializer;
            import jakarta.servlet.ServletContext;
            import jakarta.servlet.annotation.HandlesTypes;
            import jakarta.servlet.http.HttpServlet;
            import jakarta.servlet.http.HttpServletRequest;
            import jakarta.servlet.http.HttpServletResponse;
            @HandlesTypes(Greeting.class)
            public class Initializer implements ServletContainerInitializer
            {
                @Override
                public void onStartup(Set<Class<?>> types, ServletContext context)
                {
                    Set<String> names = new TreeSet<>();
                    if (types != null)
                        types.forEach(type -> names.add(type.getName()));
                    context.addServlet("sci", new HttpServlet()
                    {
                        @Override
                        protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
                        {
                            response.setContentType("text/plain");
                            response.getWriter().print("initializer saw " + names);
                        }
                    }).addMapping("/sci");
                }
            }
            """);
        java.put("HelloGreeting", """
            package example;
            public class HelloGreeting implements Greeting
            {
            }
            """);
        java.put("AnnotatedServlet", """
            package example;
            import java.io.IOException;
            import jakarta.servlet.annotation.WebServlet;
            import jakarta.servlet.http.HttpServlet;
            import jakarta.servlet.http.HttpServletRequest;
            import jakarta.servlet.http.HttpServletResponse;
            @WebServlet("/annotated")
            public class AnnotatedServlet extends HttpServlet
            {
                @Override
                protected void doGet(HttpServletRequest request, HttpServletResponse response) throws IOException
                {
                    response.setContentType("text/plain");
                    response.getWriter().print("annotated servlet");
                }
            }
            """);
        List<String> arguments = new ArrayList<>(List.of("-d", classes.toString(), "--release", "17", "-classpath", servletApi().toString()));
        for (Map.Entry<String, String> source : java.entrySet())
        {
            arguments.add(Files.writeString(sources.resolve(source.getKey() + ".java"), source.getValue()).toString());
        }
        JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
        assertEquals(0, compiler.run(null, null, null, arguments.toArray(String[]::new)), "javac " + arguments);

        Path sciJar = work.resolve("sci.jar");
        try (OutputStream file = Files.newOutputStream(sciJar); JarOutputStream jar = new JarOutputStream(file))
        {
            put(jar, "META-INF/services/jakarta.servlet.ServletContainerInitializer", "example.Initializer\n".getBytes(StandardCharsets.UTF_8));
            for (String name : List.of("Greeting", "Initializer", "Initializer$1"))
            {
                put(jar, "example/" + name + ".class", Files.readAllBytes(classes.resolve("example/" + name + ".class")));
            }
        }

        Path war = work.resolve("deploy.war");
        try (OutputStream file = Files.newOutputStream(war); JarOutputStream jar = new JarOutputStream(file))
        {
            put(jar, "WEB-INF/web.xml", """
                <?xml version="1.0" encoding="UTF-8"?>
                <web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0"/>
                """.getBytes(StandardCharsets.UTF_8));
            put(jar, "WEB-INF/lib/sci.jar", Files.readAllBytes(sciJar));
            for (String name : List.of("HelloGreeting", "AnnotatedServlet"))
            {
                put(jar, "WEB-INF/classes/example/" + name + ".class", Files.readAllBytes(classes.resolve("example/" + name + ".class")));
            }
            put(jar, "jstl.jsp", """
                <%@ page contentType="text/plain" %><%@ taglib prefix="c" uri="jakarta.tags.core" %><c:forEach var="i" begin="1" end="3">item ${i}
                </c:forEach>""".getBytes(StandardCharsets.UTF_8));
            put(jar, "dump.jsp", """
                <%@ page contentType="text/plain" import="java.util.*" %><%
                for (String name : new TreeSet<>(Collections.list(application.getAttributeNames())))
                    out.println(name + " = " + application.getAttribute(name));
                out.println("property java.io.tmpdir = " + System.getProperty("java.io.tmpdir"));
                String visibility;
                try
                {
                    Class.forName("org.slf4j.Logger", false, Thread.currentThread().getContextClassLoader());
                    visibility = "visible";
                }
                catch (ClassNotFoundException x)
                {
                    visibility = "hidden";
                }
                out.println("class org.slf4j.Logger = " + visibility);
                %>""".getBytes(StandardCharsets.UTF_8));
        }
        return war;
    }

    private static Path servletApi() throws Exception
    {
        Path lib = JettyBase.home().resolve("lib");
        try (Stream<Path> jars = Files.list(lib))
        {
            return jars.filter(jar -> jar.getFileName().toString().startsWith("jakarta.servlet-api-")).findFirst()
                .orElseThrow(() -> new IOException("no jakarta.servlet-api jar in " + lib));
        }
    }

    private static void put(JarOutputStream jar, String name, byte[] content) throws IOException
    {
        jar.putNextEntry(new ZipEntry(name));
        jar.write(content);
        jar.closeEntry();
    }
}
