package org.jettyitk.distribution;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.handler.ContextHandlerCollection;
import org.eclipse.jetty.server.handler.gzip.GzipHandler;
import org.eclipse.jetty.util.resource.ResourceFactory;
import org.eclipse.jetty.xml.XmlConfiguration;
import org.jettyitk.ItkHandler;
import org.jettyitk.VirtualHostDirectory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * <p>The overlay's files as built (filtered, in {@code target/overlay}), checked without a distribution:
 * {@code etc/jetty-itk.xml} run through {@link XmlConfiguration} as start.jar would, its defaults against
 * {@link ItkHandler}'s and against what {@code itk.mod} documents, and the jars the modules name against the jars
 * the overlay holds.</p>
 */
public class ItkModuleConfigTest
{
    private static final Path OVERLAY = Path.of(System.getProperty("itk.overlay.directory", "target/overlay"));
    private static final Pattern PROPERTY = Pattern.compile("(?:name|property)=\"(jetty\\.itk\\.[A-Za-z]+)\"(?:\\s+default=\"([^\"]*)\")?");
    private static final Pattern DOCUMENTED = Pattern.compile("^# (jetty\\.itk\\.[A-Za-z]+)=(.*)$", Pattern.MULTILINE);

    @TempDir
    Path base;

    private Server configure(Server server, Map<String, String> properties) throws Exception
    {
        XmlConfiguration xml = new XmlConfiguration(ResourceFactory.root().newResource(OVERLAY.resolve("etc/jetty-itk.xml")));
        xml.getIdMap().put("Server", server);
        xml.getProperties().put("jetty.base", base.toString());
        xml.getProperties().putAll(properties);
        xml.configure();
        return server;
    }

    private static ItkHandler itk(Server server)
    {
        Handler handler = server.getHandler();
        while (!(handler instanceof ItkHandler) && handler instanceof Handler.Wrapper wrapper)
        {
            handler = wrapper.getHandler();
        }
        return assertInstanceOf(ItkHandler.class, handler);
    }

    @Test
    public void testDefaultsAreTheHandlersDefaults() throws Exception
    {
        ItkHandler itk = itk(configure(new Server(), Map.of()));
        ItkHandler plain = new ItkHandler();

        assertEquals(settings(plain), settings(itk));
        VirtualHostDirectory directory = itk.getBean(VirtualHostDirectory.class);
        assertSame(itk, directory.getHandler());
        assertEquals(base.resolve("itk"), directory.getDirectory());
        assertEquals(VirtualHostDirectory.DEFAULT_SCAN_INTERVAL_SECONDS, directory.getScanIntervalSeconds());
        assertNull(directory.getDefaultVirtualHost());
        assertEquals(base.toString(), directory.getProperties().get("jetty.base"));
    }

    private static Map<String, Object> settings(ItkHandler itk)
    {
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("defaultVirtualHost", itk.getDefaultVirtualHost());
        settings.put("minId", itk.getMinId());
        settings.put("maxId", itk.getMaxId());
        settings.put("javaCommand", itk.getJavaCommand());
        settings.put("workerJvmOptions", itk.getWorkerJvmOptions());
        settings.put("workerClassPath", itk.getWorkerClassPath());
        settings.put("useSetpriv", itk.isUseSetpriv());
        settings.put("frontUser", itk.getFrontUser());
        settings.put("frontGroup", itk.getFrontGroup());
        settings.put("logDirectories", itk.getLogDirectories());
        settings.put("workerClassArchive", itk.isWorkerClassArchive());
        settings.put("cpuGroup", itk.isCpuGroup());
        settings.put("workDirectory", itk.getWorkDirectory());
        settings.put("spawnTimeoutMillis", itk.getSpawnTimeoutMillis());
        settings.put("maxWorkersPerVirtualHost", itk.getMaxWorkersPerVirtualHost());
        settings.put("maxRequestsPerVirtualHost", itk.getMaxRequestsPerVirtualHost());
        settings.put("idleTimeoutMillis", itk.getIdleTimeoutMillis());
        settings.put("maxRequestsPerWorker", itk.getMaxRequestsPerWorker());
        settings.put("maxWorkerAgeMillis", itk.getMaxWorkerAgeMillis());
        settings.put("requestTimeoutMillis", itk.getRequestTimeoutMillis());
        settings.put("drainTimeoutMillis", itk.getDrainTimeoutMillis());
        settings.put("crashLimit", itk.getCrashLimit());
        settings.put("crashIntervalMillis", itk.getCrashIntervalMillis());
        settings.put("minCrashBackoffMillis", itk.getMinCrashBackoffMillis());
        settings.put("maxCrashBackoffMillis", itk.getMaxCrashBackoffMillis());
        settings.put("maxWebSocketsPerVirtualHost", itk.getMaxWebSocketsPerVirtualHost());
        settings.put("webSocketIdleTimeoutMillis", itk.getWebSocketIdleTimeoutMillis());
        settings.put("maxWorkers", itk.getMaxWorkers());
        settings.put("statusPath", itk.getStatusPath());
        settings.put("statusAllow", itk.getStatusAllow());
        return settings;
    }

    @Test
    public void testEveryPropertyReachesItsSetter() throws Exception
    {
        Map<String, String> properties = new HashMap<>();
        properties.put("jetty.itk.minId", "2000");
        properties.put("jetty.itk.maxId", "3000");
        properties.put("jetty.itk.javaCommand", "/opt/java/bin/java");
        properties.put("jetty.itk.workerJvmOptions", "-Xmx64m  -Xss1m");
        properties.put("jetty.itk.workerClassPath", "/opt/itk/lib/a.jar");
        properties.put("jetty.itk.useSetpriv", "false");
        properties.put("jetty.itk.frontUser", "jetty");
        properties.put("jetty.itk.frontGroup", "40999");
        properties.put("jetty.itk.logDirectories", "/var/log/itk, /srv/logs");
        properties.put("jetty.itk.workerClassArchive", "false");
        properties.put("jetty.itk.cpuGroup", "false");
        properties.put("jetty.itk.workDirectory", "/var/lib/itk");
        properties.put("jetty.itk.spawnTimeoutMillis", "5000");
        properties.put("jetty.itk.maxWorkersPerVirtualHost", "3");
        properties.put("jetty.itk.maxRequestsPerVirtualHost", "50");
        properties.put("jetty.itk.idleTimeoutMillis", "1000");
        properties.put("jetty.itk.maxRequestsPerWorker", "100");
        properties.put("jetty.itk.maxWorkerAgeMillis", "60000");
        properties.put("jetty.itk.requestTimeoutMillis", "9000");
        properties.put("jetty.itk.drainTimeoutMillis", "2000");
        properties.put("jetty.itk.crashLimit", "5");
        properties.put("jetty.itk.crashIntervalMillis", "20000");
        properties.put("jetty.itk.minCrashBackoffMillis", "500");
        properties.put("jetty.itk.maxCrashBackoffMillis", "8000");
        properties.put("jetty.itk.maxWebSocketsPerVirtualHost", "12");
        properties.put("jetty.itk.webSocketIdleTimeoutMillis", "45000");
        properties.put("jetty.itk.maxWorkers", "7");
        properties.put("jetty.itk.statusPath", "/itk-status");
        properties.put("jetty.itk.statusAllow", "192.0.2.0/24,unix");
        properties.put("jetty.itk.directory", "/etc/itk/vhosts");
        properties.put("jetty.itk.scanIntervalSeconds", "5");
        properties.put("jetty.itk.defaultVirtualHost", "alice");

        ItkHandler itk = itk(configure(new Server(), properties));

        Map<String, Object> expected = new LinkedHashMap<>();
        expected.put("defaultVirtualHost", null);
        expected.put("minId", 2000);
        expected.put("maxId", 3000);
        expected.put("javaCommand", "/opt/java/bin/java");
        expected.put("workerJvmOptions", List.of("-Xmx64m", "-Xss1m"));
        expected.put("workerClassPath", "/opt/itk/lib/a.jar");
        expected.put("useSetpriv", false);
        expected.put("frontUser", "jetty");
        expected.put("frontGroup", "40999");
        expected.put("logDirectories", List.of(Path.of("/var/log/itk"), Path.of("/srv/logs")));
        expected.put("workerClassArchive", false);
        expected.put("cpuGroup", false);
        expected.put("workDirectory", Path.of("/var/lib/itk"));
        expected.put("spawnTimeoutMillis", 5000L);
        expected.put("maxWorkersPerVirtualHost", 3);
        expected.put("maxRequestsPerVirtualHost", 50);
        expected.put("idleTimeoutMillis", 1000L);
        expected.put("maxRequestsPerWorker", 100L);
        expected.put("maxWorkerAgeMillis", 60000L);
        expected.put("requestTimeoutMillis", 9000L);
        expected.put("drainTimeoutMillis", 2000L);
        expected.put("crashLimit", 5);
        expected.put("crashIntervalMillis", 20000L);
        expected.put("minCrashBackoffMillis", 500L);
        expected.put("maxCrashBackoffMillis", 8000L);
        expected.put("maxWebSocketsPerVirtualHost", 12);
        expected.put("webSocketIdleTimeoutMillis", 45000L);
        expected.put("maxWorkers", 7);
        expected.put("statusPath", "/itk-status");
        expected.put("statusAllow", "192.0.2.0/24,unix");
        assertEquals(expected, settings(itk));
        VirtualHostDirectory directory = itk.getBean(VirtualHostDirectory.class);
        assertEquals(Path.of("/etc/itk/vhosts"), directory.getDirectory());
        assertEquals(5, directory.getScanIntervalSeconds());
        // The handler checks its default vhost at start, before the files are read: the directory sets it later.
        assertEquals("alice", directory.getDefaultVirtualHost());
        assertEquals(properties.keySet().size(), properties(xml()).size(), "a property of the XML is missing from this test");
    }

    @Test
    public void testItkHandlerIsInsertedAtTheTailOfTheWrappers() throws Exception
    {
        Server server = new Server();
        ContextHandlerCollection contexts = new ContextHandlerCollection();
        server.setHandler(contexts);
        GzipHandler gzip = new GzipHandler();
        server.insertHandler(gzip);

        configure(server, Map.of());

        assertSame(gzip, server.getHandler());
        ItkHandler itk = assertInstanceOf(ItkHandler.class, gzip.getHandler());
        assertSame(contexts, itk.getHandler());
    }

    @Test
    public void testIniTemplateDocumentsEveryPropertyWithItsDefault() throws Exception
    {
        Map<String, String> inXml = properties(xml());
        Map<String, String> documented = new LinkedHashMap<>();
        Matcher matcher = DOCUMENTED.matcher(section(module("itk"), "ini-template"));
        while (matcher.find())
        {
            documented.put(matcher.group(1), matcher.group(2));
        }
        assertEquals(new TreeSet<>(inXml.keySet()), new TreeSet<>(documented.keySet()));
        for (Map.Entry<String, String> property : inXml.entrySet())
        {
            String xmlDefault = property.getValue();
            if (property.getKey().equals("jetty.itk.directory"))
                xmlDefault = "${jetty.base}/itk";
            assertEquals(xmlDefault, documented.get(property.getKey()), property.getKey());
        }
    }

    @Test
    public void testModulesNameExactlyTheOverlaysJars() throws Exception
    {
        List<String> named = new ArrayList<>();
        for (String module : List.of("itk", "itk-http2", "itk-jnr"))
        {
            String text = module(module);
            Map<String, String> versions = new HashMap<>();
            for (String line : section(text, "ini").split("\n"))
            {
                if (line.contains("?="))
                    versions.put(line.substring(0, line.indexOf("?=")), line.substring(line.indexOf("?=") + 2));
            }
            for (String lib : section(text, "lib").split("\n"))
            {
                if (lib.isBlank() || !lib.startsWith("lib/itk/") && !lib.startsWith("lib/http2/jetty-http2-client"))
                    continue;
                for (Map.Entry<String, String> version : versions.entrySet())
                {
                    lib = lib.replace("${" + version.getKey() + "}", version.getValue());
                }
                named.add(lib.replace("${jetty.version}", System.getProperty("itk.jetty-home.version", "12.1.5")));
            }
        }
        List<String> shipped = new ArrayList<>();
        for (String dir : List.of("lib/itk", "lib/http2"))
        {
            try (Stream<Path> jars = Files.list(OVERLAY.resolve(dir)))
            {
                jars.forEach(jar -> shipped.add(OVERLAY.relativize(jar).toString()));
            }
        }
        assertEquals(new TreeSet<>(shipped), new TreeSet<>(named));
    }

    private static String xml() throws IOException
    {
        return Files.readString(OVERLAY.resolve("etc/jetty-itk.xml"));
    }

    private static String module(String name) throws IOException
    {
        return Files.readString(OVERLAY.resolve("modules/" + name + ".mod"));
    }

    /**
     * @return the jetty.itk.* properties the XML reads, with their default (empty for none)
     */
    private static Map<String, String> properties(String xml)
    {
        Map<String, String> properties = new LinkedHashMap<>();
        Matcher matcher = PROPERTY.matcher(xml);
        while (matcher.find())
        {
            properties.merge(matcher.group(1), matcher.group(2) == null ? "" : matcher.group(2), (a, b) -> a.isEmpty() ? b : a);
        }
        return properties;
    }

    private static String section(String module, String name)
    {
        int start = module.indexOf("[" + name + "]\n");
        if (start < 0)
            return "";
        start += name.length() + 3;
        int end = module.indexOf("\n[", start);
        return module.substring(start, end < 0 ? module.length() : end + 1);
    }
}
