package org.jettyitk.bench;

/**
 * <p>What one load run asks for: a path, whether it uploads, and how the client connects.</p>
 * <p>Keep-alive runs use {@code wrk} with {@link BenchOptions#connections} connections (16); sequential runs
 * use {@code ab -c 1} without keep-alive, a new connection per request, like the mpm-itk article's
 * {@code ab -n 1000 -c 1}.</p>
 */
public enum Workload
{
    TINY_KA("tiny-ka", "tiny dynamic page", "/tiny", false, true),
    PAGE_KA("page75k-ka", "75 KB dynamic page", "/page", false, true),
    STATIC_KA("static1m-ka", "1 MB static file", "/1mb.bin", false, true),
    UPLOAD_KA("upload10m-ka", "10 MB upload", "/upload", true, true),
    TINY_SEQ("tiny-seq", "tiny dynamic page", "/tiny", false, false),
    PAGE_SEQ("page75k-seq", "75 KB dynamic page", "/page", false, false),
    STATIC_SEQ("static1m-seq", "1 MB static file", "/1mb.bin", false, false),
    UPLOAD_SEQ("upload10m-seq", "10 MB upload", "/upload", true, false);

    public final String id;
    public final String content;
    public final String path;
    public final boolean upload;
    public final boolean keepAlive;

    Workload(String id, String content, String path, boolean upload, boolean keepAlive)
    {
        this.id = id;
        this.content = content;
        this.path = path;
        this.upload = upload;
        this.keepAlive = keepAlive;
    }

    public String describe(int connections)
    {
        return content + (keepAlive ? ", " + connections + " keep-alive conns (wrk)" : ", sequential, no keep-alive (ab -c 1)");
    }

    /**
     * @return how the client connects, for a chart's group heading
     */
    public String mode(int connections)
    {
        return keepAlive ? connections + " concurrent keep-alive connections (wrk)" : "sequential, a new connection per request (ab -c 1)";
    }

    public static Workload fromId(String id)
    {
        for (Workload workload : values())
        {
            if (workload.id.equals(id))
                return workload;
        }
        throw new IllegalArgumentException("unknown workload '" + id + "'");
    }
}
