// matrix-js-sdk 43 targets Node 22; Promise.withResolvers is the only newer
// builtin it uses, so Node 20 works with this one addition.
if (typeof Promise.withResolvers !== "function") {
    Promise.withResolvers = function () {
        let resolve, reject;
        const promise = new Promise((res, rej) => {
            resolve = res;
            reject = rej;
        });
        return { promise, resolve, reject };
    };
}
