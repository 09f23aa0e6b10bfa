import '../../daemon/polyfill.js'
